"""File names from clients made safe to keep and to hand back.

A name is metadata only (object keys never contain it), but it is shown to people and sent
back in `Content-Disposition`, so it must not carry a path, control characters (a newline
would split a header or a log line) or the bidirectional overrides that make
`invoice\u202egpj.exe` read as `invoiceexe.jpg`.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from core.errors import InvalidName

MAX_NAME_CHARS = 255
# Unicode categories removed from names: controls (Cc), format characters such as the
# bidirectional overrides and zero-width joiners (Cf), unassigned and private-use (Cn, Co),
# lone surrogates (Cs), and the line and paragraph separators (Zl, Zp), which break a line
# as a newline does.
_REMOVED = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


def safe_name(raw: str) -> str:
    """The base name without control or format characters, NFC-normalized, trimmed, at most
    MAX_NAME_CHARS characters; InvalidName when nothing usable is left."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _REMOVED)
    base = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base.strip("."):
        raise InvalidName("the file name is empty once its path and control characters are "
                          "removed", details={"name": raw[:MAX_NAME_CHARS]})
    if len(base) <= MAX_NAME_CHARS:
        return base
    stem, dot, suffix = base.rpartition(".")
    if dot and 0 < len(suffix) <= 16:  # keep the extension when shortening
        return stem[: MAX_NAME_CHARS - len(suffix) - 1].rstrip() + "." + suffix
    return base[:MAX_NAME_CHARS].rstrip()


def name_key(name: str) -> str:
    """What makes two names the same document: case and Unicode form do not count."""
    return unicodedata.normalize("NFC", name).casefold()


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """An RFC 6266 header value: an ASCII `filename` for old clients and the exact name in
    RFC 5987's `filename*`."""
    ascii_name = "".join(
        ch if (32 <= ord(ch) < 127 and ch not in '"\\') else "_" for ch in name
    )
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
