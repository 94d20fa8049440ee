"""CSV: detect the encoding (whole file) and the dialect (first bytes), then stream with
pyarrow.csv.

pyarrow's reader is multi-threaded C++ and streams in blocks, an order of magnitude faster
than the csv module. Every column is read as text and typed afterwards (infer.py): pyarrow
infers from the first block only, and a later block that disagrees would fail the file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from workers.errors import BadFile
from workers.ingest.limits import BLOCK_BYTES, MAX_COLUMNS

HEAD_BYTES = 64 * 1024
DELIMITERS = ",;\t|"


def scan(path: Path) -> tuple[str, bool]:
    """The file's encoding, and whether it holds a quote character at all (without one, no
    value can span lines, and the parser need not look for that).

    The encoding is a BOM's, else UTF-8 if every byte decodes so, else cp1252, else latin-1
    (which decodes anything). The whole file is checked, one block at a time (memory stays one
    block): a file can be plain ASCII for megabytes before its first accented letter. One pass
    does both; a second, for cp1252, only if UTF-8 fails.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True  # its quotes are two bytes wide: assume there are some
    bom = head.startswith(codecs.BOM_UTF8)
    decoder = None if bom else codecs.getincrementaldecoder("utf-8")()
    quoted = False
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            quoted = quoted or b'"' in block
            if decoder is not None and not _fed(decoder, block):
                decoder = None
    if bom:
        return "utf-8-sig", quoted
    if decoder is not None and _fed(decoder, b"", final=True):
        return "utf-8", quoted
    return ("cp1252" if _decodes(path, "cp1252") else "latin-1"), quoted


def _decodes(path: Path, encoding: str) -> bool:
    # An incremental decoder carries a character split across two blocks over to the next.
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            if not _fed(decoder, block):
                return False
    return _fed(decoder, b"", final=True)


def _fed(decoder: codecs.IncrementalDecoder, block: bytes, final: bool = False) -> bool:
    """Whether `block` decodes, following what came before it."""
    # ASCII decodes the same in every candidate encoding: skip it, unless a character split
    # at the previous block's end is waiting for its last bytes.
    if block.isascii() and not final and not decoder.getstate()[0]:
        return True
    try:
        decoder.decode(block, final=final)
    except UnicodeDecodeError:
        return False
    return True


def detect_dialect(text: str) -> tuple[str, bool]:
    """The delimiter and whether the first line is a header.

    The first line is a header unless every cell of it is a number, as pandas and pyarrow
    read files by default: `csv.Sniffer.has_header` took `name,2020,2021` for data. An upload
    that knows better says `header=true|false`.
    """
    sample = "\n".join(text.splitlines()[:50])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    first = next(csv.reader([sample.splitlines()[0] if sample else ""], delimiter=delimiter), [])
    header = not (first and all(_is_number(cell) for cell in first))
    return delimiter, header


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv(path: Path, header: bool | None = None) -> Iterator[tuple[float, pa.Table]]:
    """Yield (fraction read, chunk) until the file is consumed; `header` None: decided from
    the first line."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    encoding, quoted = scan(path)
    # The sample may end inside a multi-byte character: ignore only what cannot be decoded.
    text = head.decode(encoding, errors="ignore")
    delimiter, detected = detect_dialect(text)
    header = detected if header is None else header
    read_options = pacsv.ReadOptions(
        block_size=BLOCK_BYTES, encoding=encoding, autogenerate_column_names=not header
    )
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=quoted)
    _check_width(path, encoding, delimiter)
    names = _column_names(path, read_options, parse)
    if not header:
        # Name generated columns as the other readers do, not pyarrow's f0, f1...
        names = [f"column_{i + 1}" for i in range(len(names))]
        read_options = pacsv.ReadOptions(block_size=BLOCK_BYTES, encoding=encoding,
                                         column_names=names)
    convert = pacsv.ConvertOptions(
        # Every cell as text; which ones are nulls is decided when typing (infer.NULL_TOKENS),
        # not by pyarrow's own list, which takes the country code NA for a null.
        column_types={name: pa.string() for name in names}, null_values=[],
        strings_can_be_null=False,
        # The whole file has just been decoded as UTF-8 (scan): no need to check each cell
        # again. Other encodings reach pyarrow transcoded, and a BOM vouches for nothing.
        check_utf8=encoding != "utf-8",
    )
    # A native file: pyarrow reads it without a Python call and a copy per block, and its
    # position says how far the reader has got, for progress.
    with pa.OSFile(str(path)) as raw:
        try:
            reader = pacsv.open_csv(raw, read_options=read_options,
                                    parse_options=parse, convert_options=convert)
            for batch in reader:
                yield min(raw.tell() / max(size, 1), 1.0), pa.Table.from_batches([batch])
        except pa.ArrowInvalid as exc:
            raise _translate(exc) from exc


def _check_width(path: Path, encoding: str, delimiter: str) -> None:
    """Refuse a first row wider than MAX_COLUMNS before pyarrow sees the file: pyarrow infers
    a type for every column of its first block, which for 100,000 columns took a gigabyte."""
    with path.open("rb") as raw:
        block = raw.read(BLOCK_BYTES)  # a row is at most one block (limits.py)
    text = block.decode(encoding, errors="ignore")
    # The csv module keeps quoted delimiters and newlines inside their field; on a row cut
    # by the block's end it counts the fields so far, which is enough to refuse.
    try:
        first = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error:
        return  # a field past the csv module's own limit: pyarrow's checks refuse the file
    if len(first) > MAX_COLUMNS:
        raise BadFile("too_many_columns", f"{len(first)} columns or more "
                      f"(at most {MAX_COLUMNS})")


def _column_names(
    path: Path, read_options: pacsv.ReadOptions, parse: pacsv.ParseOptions
) -> list[str]:
    try:
        with path.open("rb") as raw:
            reader = pacsv.open_csv(raw, read_options=read_options, parse_options=parse,
                                    convert_options=pacsv.ConvertOptions(column_types={}))
            names = list(reader.schema.names)
    except pa.ArrowInvalid as exc:
        raise _translate(exc) from exc
    if len(names) > MAX_COLUMNS:
        raise BadFile("too_many_columns", f"{len(names)} columns (at most {MAX_COLUMNS})")
    if len(set(names)) != len(names):
        raise BadFile("invalid_file", "two columns have the same name")
    return names


def _translate(exc: pa.ArrowInvalid) -> BadFile:
    message = str(exc)
    if "Expected" in message and "columns" in message:
        return BadFile("ragged_rows", f"rows have different numbers of fields: {message}")
    if "straddling" in message or "block" in message.lower():
        return BadFile("cell_too_large", f"a row or cell is larger than {BLOCK_BYTES} bytes")
    if "Empty CSV" in message:
        return BadFile("empty_file", "the file has no rows")
    return BadFile("invalid_file", f"the file is not valid CSV: {message}")
