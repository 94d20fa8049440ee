"""A file's type, decided by its first bytes (puremagic's signature table), not by what the
client claims; the name only breaks ties between formats that share a signature (a zip, a
.docx and an .xlsx all start with `PK`)."""

from __future__ import annotations

import mimetypes
from pathlib import PurePath

import puremagic

OCTET_STREAM = "application/octet-stream"
ZIP = "application/zip"
# Text formats a name may refine plain text into.
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript"}
# Types a browser would render or run if it were ever shown one inline: always downloaded.
ACTIVE_TYPES = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml",
                          "text/javascript", "application/javascript", "text/xml",
                          "application/xml"})


def sniff(head: bytes, filename: str) -> str:
    """The MIME type of a file starting with `head` (its first few KiB)."""
    if not head:
        return OCTET_STREAM
    by_magic = _by_signature(head, filename)
    if by_magic is not None:
        return by_magic
    if _looks_like_text(head):
        guessed, _ = mimetypes.guess_type(filename, strict=False)
        if guessed and (guessed.startswith("text/") or guessed in _TEXT_TYPES):
            return guessed
        return "text/plain"
    return OCTET_STREAM


def _by_signature(head: bytes, filename: str) -> str | None:
    suffix = PurePath(filename).suffix.lower()
    try:
        found = puremagic.magic_string(head, filename or None)
    except (puremagic.PureError, ValueError):
        return None
    candidates = [m for m in found if m.mime_type]
    if not candidates:
        # A signature without a MIME type in the table: a zip is the one common case.
        return ZIP if head.startswith(b"PK\x03\x04") else None
    same_suffix = [m for m in candidates if m.extension.lower() == suffix]
    best = max(same_suffix or candidates, key=lambda m: m.confidence)
    if head.startswith(b"PK\x03\x04") and not same_suffix:
        return ZIP  # a zip not named as one of the office formats
    return str(best.mime_type)


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut at the end of the sniffed bytes is still text.
        if exc.start < len(head) - 3:
            return False
    return True


def previewable(content_type: str) -> str | None:
    """Which renderer makes a preview of this type: "image", "pdf", or None."""
    if content_type == "application/pdf":
        return "pdf"
    if content_type in {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp",
                        "image/tiff"}:
        return "image"
    return None
