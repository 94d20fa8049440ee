"""The format readers on small files written by the tests, good and bad."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from openpyxl import Workbook
from scipy.io import savemat

from workers.errors import BadFile
from workers.ingest.csv_reader import read_csv, scan
from workers.ingest.dat_reader import read_dat
from workers.ingest.formats import check_format
from workers.ingest.limits import BLOCK_BYTES
from workers.ingest.mat_reader import read_mat
from workers.ingest.xlsx_reader import read_xlsx


def _all(chunks: object) -> pa.Table:
    return pa.concat_tables([table for _, table in chunks])  # type: ignore[attr-defined]


def test_csv_semicolons_quotes_and_latin1(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes('name;city;n\n"Zoë; Jr";Málaga;1\nBo;Köln;2\n'.encode("cp1252"))
    table = _all(read_csv(path))
    assert table.column_names == ["name", "city", "n"]
    assert table.column("name").to_pylist() == ["Zoë; Jr", "Bo"]
    assert table.column("city").to_pylist() == ["Málaga", "Köln"]


def test_csv_whose_first_non_utf8_byte_comes_late_is_read_as_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    ascii_rows = "".join(f"plain {i},{i}\n" for i in range(10_000))  # well past 64 KiB
    assert len(ascii_rows) > 2 * 64 * 1024
    path.write_bytes(b"name,n\n" + ascii_rows.encode() + b"caf\xe9,10000\n")
    table = _all(read_csv(path))
    assert table.num_rows == 10_001
    assert table.column("name").to_pylist()[-1] == "café"


def test_utf8_character_across_a_block_boundary_stays_utf8(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    head = b"name,n\n"
    filler = b"".join(b"a%07d,1\n" % i for i in range((BLOCK_BYTES - len(head)) // 11))
    # Pad so that the two bytes of an "é" fall on either side of the first block's end.
    pad = b"b" * (BLOCK_BYTES - 1 - len(head) - len(filler))
    body = head + filler + pad + "é,2\n".encode()
    assert body[BLOCK_BYTES - 1:BLOCK_BYTES + 1] == "é".encode()
    path.write_bytes(body)
    table = _all(read_csv(path))
    assert table.column("name").to_pylist()[-1] == "b" * len(pad) + "é"


def test_a_quoted_value_spanning_lines_is_one_cell_wherever_the_quote_comes(
    tmp_path: Path
) -> None:
    path = tmp_path / "q.csv"
    # The first quote more than a block into the file: the whole file is looked at.
    rows = "".join(f"row {i},{i}\n" for i in range(BLOCK_BYTES // 8))
    path.write_text("note,n\n" + rows + '"two\nlines",-1\n')
    table = _all(read_csv(path))
    assert table.num_rows == BLOCK_BYTES // 8 + 1
    assert table.column("note").to_pylist()[-1] == "two\nlines"


def test_scan_says_whether_a_file_holds_quotes(tmp_path: Path) -> None:
    plain, quoted = tmp_path / "plain.csv", tmp_path / "quoted.csv"
    plain.write_bytes("a,b\ncaf\xe9,1\n".encode())
    quoted.write_bytes(b'a,b\n"caf\xe9",1\n')
    assert scan(plain) == ("utf-8", False)
    assert scan(quoted) == ("cp1252", True)


def test_csv_without_header_gets_generated_names(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    table = _all(read_csv(path))
    assert table.num_rows == 3
    assert table.column_names == ["column_1", "column_2"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"a,b\n1,2\n3,4,5\n", "ragged_rows"),
        (b"a,b\n1," + b"x" * (2 << 20) + b"\n", "cell_too_large"),
    ],
)
def test_csv_bad_files(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BadFile) as caught:
        _all(read_csv(path))
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("declared", "head", "code"),
    [
        ("csv", b"", "empty_file"),
        ("csv", bytes(range(256)) * 4, "invalid_file"),
        ("csv", b"PK\x03\x04rest", "wrong_extension"),
        ("xlsx", b"a,b\n1,2\n", "wrong_extension"),
        ("mat", b"a,b\n1,2\n", "wrong_extension"),
    ],
)
def test_content_must_match_the_name(declared: str, head: bytes, code: str) -> None:
    with pytest.raises(BadFile) as caught:
        check_format(declared, head)
    assert caught.value.code == code


def test_content_matching_the_name_passes() -> None:
    assert check_format("csv", b"a,b\n1,2\n") == "csv"
    assert check_format("mat", b"MATLAB 7.3 MAT-file, Platform") == "mat73"


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_reads_typed_cells_as_text(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "a.xlsx", [["x", "label"], [1.5, "a"], [2, "b"]])
    table = _all(read_xlsx(path))
    assert table.column("x").to_pylist() == ["1.5", "2"]
    assert table.column("label").to_pylist() == ["a", "b"]


def test_xlsx_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(BadFile) as caught:
        _all(read_xlsx(path))
    assert caught.value.code == "zip_bomb"


def test_xlsx_gigantic_cell(tmp_path: Path) -> None:
    # openpyxl truncates what it writes to Excel's limit: put the long string in by hand.
    small = _xlsx(tmp_path / "small.xlsx", [["a"], ["PLACEHOLDER"]])
    path = tmp_path / "big.xlsx"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info).replace(b"PLACEHOLDER", b"x" * 70_000)
            target.writestr(info.filename, data)
    with pytest.raises(BadFile) as caught:
        _all(read_xlsx(path))
    assert caught.value.code == "cell_too_large"


def test_dat_with_header_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "a.dat"
    path.write_text("# measured\nt  v\n0 1.5\n1   2.5\n\n2\t3.5\n")
    table = _all(read_dat(path))
    assert table.column_names == ["t", "v"]
    assert table.column("v").to_pylist() == [1.5, 2.5, 3.5]


@pytest.mark.parametrize(
    ("content", "code"),
    [("1 2\n3\n", "ragged_rows"), ("1 2\n3 x\n", "invalid_file"), ("# nothing\n", "empty_file"),
     ("x x y\n1 2 3\n", "invalid_file")],
)
def test_dat_bad_files(tmp_path: Path, content: str, code: str) -> None:
    path = tmp_path / "bad.dat"
    path.write_text(content)
    with pytest.raises(BadFile) as caught:
        _all(read_dat(path))
    assert caught.value.code == code


def test_mat_v5_matrix_and_vector(tmp_path: Path) -> None:
    path = tmp_path / "a.mat"
    savemat(path, {"x": np.arange(6.0).reshape(3, 2), "y": np.array([7, 8, 9])})
    table = _all(read_mat(path, "mat5"))
    assert table.column_names == ["x_1", "x_2", "y"]
    assert table.column("x_2").to_pylist() == [1.0, 3.0, 5.0]


def test_mat_v73_through_hdf5(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "a.mat"
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle["x"] = np.arange(6.0).reshape(2, 3)  # MATLAB's 3x2, stored transposed
    with path.open("r+b") as raw:
        raw.write(b"MATLAB 7.3 MAT-file".ljust(128, b" "))
    assert check_format("mat", path.read_bytes()[:64]) == "mat73"
    table = _all(read_mat(path, "mat73"))
    assert table.column("x_1").to_pylist() == [0.0, 1.0, 2.0]


def _matlab_73(path: Path, build: Callable[[Any], None]) -> Path:
    """An HDF5 file laid out as MATLAB's `save -v7.3` writes one: the 512-byte user block
    with MATLAB's header, a MATLAB_class attribute on every variable, and #refs#."""
    import h5py

    with h5py.File(path, "w", userblock_size=512, libver="earliest") as handle:
        build(handle)
    text = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  2 10:00:00 2025 "
            b"HDF5 schema 1.00 .")
    # 116 bytes of text, 8 of subsystem offset, version 0x0200 and the endian mark "IM".
    header = text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02" + b"IM"
    with path.open("r+b") as raw:
        raw.write(header.ljust(512, b"\0"))
    return path


def _variable(handle: Any, name: str, data: Any, matlab_class: str, **attrs: Any) -> Any:
    dataset = handle.create_dataset(name, data=data)
    dataset.attrs["MATLAB_class"] = np.bytes_(matlab_class)
    for key, value in attrs.items():
        dataset.attrs[key] = value
    return dataset


def _real_looking(handle: Any) -> None:
    import h5py

    _variable(handle, "x", np.arange(10.0).reshape(1, 10), "double")  # a 10x1 column
    _variable(handle, "flags", (np.arange(10) % 2).astype(np.uint8).reshape(1, 10), "logical",
              MATLAB_int_decode=np.int32(1))
    _variable(handle, "name", np.frombuffer("hello".encode("utf-16-le"), np.uint16)
              .reshape(5, 1), "char", MATLAB_int_decode=np.int32(2))
    _variable(handle, "nothing", np.array([0, 0], np.uint64), "double",
              MATLAB_empty=np.uint8(1))
    refs = handle.create_group("#refs#")
    inner = _variable(refs, "a", np.arange(3.0).reshape(1, 3), "double")
    _variable(handle, "parts", np.array([[inner.ref]], dtype=h5py.ref_dtype), "cell")
    struct = handle.create_group("settings")
    struct.attrs["MATLAB_class"] = np.bytes_("struct")
    _variable(struct, "rate", np.array([[0.5]]), "double")


def test_mat_v73_as_matlab_writes_it_keeps_numeric_variables_only(tmp_path: Path) -> None:
    path = _matlab_73(tmp_path / "real.mat", _real_looking)
    assert check_format("mat", path.read_bytes()[:4096]) == "mat73"
    table = _all(read_mat(path, "mat73"))
    assert sorted(table.column_names) == ["flags", "x"]  # HDF5 lists names alphabetically
    assert table.column("x").to_pylist() == [float(i) for i in range(10)]
    assert table.column("flags").to_pylist() == [i % 2 for i in range(10)]


def test_mat_v73_without_numbers_names_what_it_skipped(tmp_path: Path) -> None:
    def text_only(handle: Any) -> None:
        _variable(handle, "name", np.frombuffer("hi".encode("utf-16-le"), np.uint16)
                  .reshape(2, 1), "char", MATLAB_int_decode=np.int32(2))
        _variable(handle, "nothing", np.array([0, 0], np.uint64), "double",
                  MATLAB_empty=np.uint8(1))

    path = _matlab_73(tmp_path / "text.mat", text_only)
    with pytest.raises(BadFile) as caught:
        _all(read_mat(path, "mat73"))
    assert caught.value.code == "unsupported_format"
    assert "name (char)" in caught.value.message and "nothing (empty)" in caught.value.message


def test_mat_of_different_lengths_is_ragged(tmp_path: Path) -> None:
    path = tmp_path / "a.mat"
    savemat(path, {"a": np.arange(3.0), "b": np.arange(4.0)})
    with pytest.raises(BadFile) as caught:
        _all(read_mat(path, "mat5"))
    assert caught.value.code == "ragged_rows"


def test_mat_garbage(tmp_path: Path) -> None:
    path = tmp_path / "a.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(BadFile) as caught:
        _all(read_mat(path, "mat5"))
    assert caught.value.code in ("invalid_file", "unsupported_format")
