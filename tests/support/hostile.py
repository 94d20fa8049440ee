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
