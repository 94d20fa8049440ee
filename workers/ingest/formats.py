"""Deciding what a file is by its first bytes, which must agree with the format its name gave
(the upload endpoint maps names to formats)."""

from __future__ import annotations

from workers.errors import BadFile

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def sniff(head: bytes) -> str:
    """What the first bytes look like: xlsx, mat5, mat73, hdf5, text, binary or empty."""
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"MATLAB 7.3 MAT-file"):
        return "mat73"
    if head.startswith(b"MATLAB 5.0 MAT-file") or head[:4] == b"MATL":
        return "mat5"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    return "text" if looks_like_text(head) else "binary"


def looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with a byte-order mark
    if b"\x00" in head:
        return False
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 13, 12))
    return control <= len(head) // 100


def check_format(declared: str, head: bytes) -> str:
    """The reader to use, or BadFile when the content contradicts the name."""
    seen = sniff(head)
    if seen == "empty":
        raise BadFile("empty_file", "the file is empty")
    if declared in ("csv", "dat"):
        if seen == "text":
            return declared
        if seen == "binary":
            raise BadFile("invalid_file", "the file is binary, not text")
        raise BadFile("wrong_extension", f"the file is {seen}, not {declared}")
    if declared == "xlsx":
        if seen == "xlsx":
            return "xlsx"
        raise BadFile("wrong_extension", f"the file is not an XLSX workbook (it looks {seen})")
    if declared == "mat":
        if seen in ("mat5", "mat73"):
            return seen
        raise BadFile("wrong_extension", f"the file is not a MATLAB file (it looks {seen})")
    raise BadFile("unsupported_format", f"no reader for {declared}")
