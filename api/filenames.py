"""File names that came from clients: stored clean, sent back in a header that is valid."""

from __future__ import annotations

import unicodedata
from pathlib import PurePath
from urllib.parse import quote

MAX_NAME_CHARS = 255
# Control characters (C0, C1, DEL), invisible format characters (bidi overrides, zero-width
# joiners: a name can pretend to end in another extension) and line/paragraph separators.
_DROPPED = {"Cc", "Cf", "Zl", "Zp"}


def clean_filename(raw: str | None, default: str = "file") -> str:
    """The last path part of `raw`, without control or format characters, at most 255
    characters; `default` when nothing is left."""
    text = "".join(ch for ch in (raw or "") if unicodedata.category(ch) not in _DROPPED)
    name = PurePath(text.replace("\\", "/")).name.strip()
    if name in ("", ".", ".."):
        return default
    return name[:MAX_NAME_CHARS]


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII `filename` and the exact name in `filename*` (RFC 6266)."""
    name = clean_filename(filename)
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
