"""Hostile files built by the tests: small on disk, expensive to read naively."""

from __future__ import annotations

import io
import re
import zipfile

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewrite_sheet(workbook: bytes, change: dict[bytes, bytes]) -> bytes:
    """The workbook with its first sheet's XML changed (regular expressions -> replacements)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == SHEET:
                for pattern, replacement in change.items():
                    data, count = re.subn(pattern, replacement, data)
                    assert count, f"{pattern!r} not in the sheet"
            target.writestr(info.filename, data)
    return out.getvalue()


def huge_dimension_xlsx() -> bytes:
    """Three cells under a declared dimension of the whole sheet (16,384 x 1,048,576)."""
    small = xlsx_bytes([["name", "n"], ["a"]])
    whole = b'<dimension ref="A1:XFD1048576"/>'
    return rewrite_sheet(small, {rb'<dimension ref="[^"]*" ?/>': whole})


def zip_bomb_xlsx(inflated: int = 64 * 1024 * 1024) -> bytes:
    """A workbook whose one sheet inflates to `inflated` bytes of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(SHEET, b"\0" * inflated)
    return out.getvalue()


def deep_xml_xlsx(depth: int = 100_000) -> bytes:
    """A sheet whose second cell holds `depth` nested elements."""
    nested = b"<x>" * depth + b"</x>" * depth
    return rewrite_sheet(xlsx_bytes([["a"], ["b"]]), {rb"<t>b</t>": b"<t>b</t>" + nested})


def wide_csv(columns: int) -> bytes:
    return (",".join(f"c{i}" for i in range(columns)) + "\n").encode()


# name -> (file name, content, what the ingestion ends with: an error code, or the rows)
def corpus() -> dict[str, tuple[str, bytes, str | list[dict[str, object]]]]:
    return {
        "zip bomb": ("bomb.xlsx", zip_bomb_xlsx(), "zip_bomb"),
        "whole-sheet dimension": ("wedge.xlsx", huge_dimension_xlsx(),
                                  [{"name": "a", "n": None}]),
        "deep XML": ("deep.xlsx", deep_xml_xlsx(), [{"a": "b"}]),
        "CSV named .xlsx": ("fake.xlsx", b"a,b\n1,2\n", "wrong_extension"),
        "text named .mat": ("fake.mat", b"a,b\n1,2\n", "wrong_extension"),
        "empty": ("empty.csv", b"", "empty_file"),
        "header only": ("head.csv", b"a,b\n", "empty_file"),
        "NUL bytes": ("nul.csv", b"a,b\n1,\x002\n", "invalid_file"),
        "a million columns": ("wide.csv", wide_csv(1_000_000), "too_many_columns"),
        "overlong line": ("long.csv", b"a\n" + b"x" * (2 << 20) + b"\n", "cell_too_large"),
        "invalid UTF-8": ("latin.csv", b"name\n\xff\xfe\xfa\n", [{"name": "\u00ff\u00fe\u00fa"}]),
        "duplicate CSV header": ("dup.csv", b"a,a\n1,2\n", "invalid_file"),
        "duplicate DAT header": ("dup.dat", b"x x y\n1 2 3\n", "invalid_file"),
        "ragged rows": ("ragged.csv", b"a,b\n1,2\n3\n", "ragged_rows"),
    }
