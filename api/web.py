"""The web app: the static files of the top-level `web/` folder, served in front of the REST app.

Everything is read when the app is built and compressed (gzip and Brotli) once, by the first
request that accepts the encoding (not at start-up, which a restart's clients wait for). Assets live
under `/assets/{version}/`, the version a digest of every file, so they are cached for a year;
the page itself (`index.html`, served for each of the app's routes) is revalidated on every
load. Every answer carries a strict Content-Security-Policy: scripts, styles and fonts only
from this origin, no inline script, connections only to this origin (HTTP and WebSocket).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path

import brotli
from starlette.types import ASGIApp, Receive, Scope, Send

ASSETS_PREFIX = "/assets/"
# The first path segments the app routes itself (history routing): each serves index.html.
APP_ROUTES = frozenset({
    "", "login", "register", "projects", "meetings", "notifications", "admin",
    "invitation", "reset-password", "verify-email", "forgot-password",
})
LONG_CACHE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
_SAFE_HOST = re.compile(
    r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
          ".txt": "text/plain; charset=utf-8"}
_COMPRESSIBLE = (".js", ".css", ".html", ".svg", ".txt")
SERVED_SUFFIXES = (".js", ".css", ".svg", ".png", ".html")


@dataclass(frozen=True)
class StaticFile:
    content_type: str
    body: bytes
    packed: bool  # served compressed when the client accepts it
    etag: str

    @classmethod
    def of(cls, name: str, body: bytes) -> StaticFile:
        suffix = Path(name).suffix
        content_type = (_TYPES.get(suffix) or mimetypes.guess_type(name)[0]
                        or "application/octet-stream")
        return cls(content_type, body, suffix in _COMPRESSIBLE,
                   '"' + hashlib.sha256(body).hexdigest()[:20] + '"')

    # Each file is compressed once, by its first request that accepts the encoding, not at
    # start-up: Brotli at its best quality over the app's files is a tenth of a second that a
    # restarted server's reconnecting clients would wait for. That request compresses it in a
    # thread (zlib and Brotli let go of the GIL), so the event loop goes on meanwhile.
    @cached_property
    def gzip(self) -> bytes | None:
        return gzip.compress(self.body, 9, mtime=0) if self.packed else None

    @cached_property
    def br(self) -> bytes | None:
        return brotli.compress(self.body, quality=11) if self.packed else None

    async def encoded(self, accept_encoding: str) -> tuple[bytes, str | None]:
        accepted = _accepted_encodings(accept_encoding)
        if not self.packed:
            return self.body, None
        for name in ("br", "gzip"):
            if name in accepted:
                if name not in self.__dict__:  # not compressed yet
                    await asyncio.to_thread(getattr, self, name)
                packed: bytes = getattr(self, name)
                return packed, name
        return self.body, None


def web_root() -> Path:
    """Where the installed package keeps the web app's files."""
    return Path(str(files("web")))


class WebApp:
    """Serves `/` and the app's routes (index.html) and `/assets/{version}/...`; passes every
    other request to `app`."""

    def __init__(self, app: ASGIApp, *, root: Path, media_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        # Object storage that answers pictures and downloads itself (S3's presigned URLs).
        self.media = "".join(f" {origin}" for origin in media_origins)
        sources = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and path.suffix in SERVED_SUFFIXES and path.name != "index.html"
        }
        digest = hashlib.sha256()
        for name, body in sources.items():
            digest.update(name.encode() + b"\0" + body)
        index_text = (root / "index.html").read_text()
        digest.update(index_text.encode())
        self.version = digest.hexdigest()[:12]
        base = f"{ASSETS_PREFIX}{self.version}/"
        self.assets = {base + name: StaticFile.of(name, body) for name, body in sources.items()}
        self.index = StaticFile.of("index.html", render_index(index_text, base, sources))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(ASSETS_PREFIX):
            asset = self.assets.get(path)
            if asset is None:
                await self._send(scope, send, None, 404, NO_CACHE)
                return
            await self._send(scope, send, asset, 200, LONG_CACHE)
            return
        if path.split("/", 2)[1] in APP_ROUTES and not path.startswith("/api/"):
            await self._send(scope, send, self.index, 200, NO_CACHE)
            return
        await self.app(scope, receive, send)

    async def _send(self, scope: Scope, send: Send, file: StaticFile | None, status: int,
                    cache: str) -> None:
        headers = {k.lower(): v for k, v in _decoded_headers(scope)}
        extra = security_headers(headers.get("host", ""), self.media)
        if file is None:
            body, encoding, content_type, etag = b"not found\n", None, _TYPES[".txt"], None
        else:
            body, encoding = await file.encoded(headers.get("accept-encoding", ""))
            content_type, etag = file.content_type, file.etag
            if etag in _etags(headers.get("if-none-match", "")):
                status, body = 304, b""
        out = [(b"content-type", content_type.encode()), (b"cache-control", cache.encode()),
               (b"vary", b"Accept-Encoding"), (b"content-length", str(len(body)).encode())]
        if etag is not None:
            out.append((b"etag", etag.encode()))
        if encoding is not None and status == 200:
            out.append((b"content-encoding", encoding.encode()))
        out += [(k.encode(), v.encode()) for k, v in extra.items()]
        if status == 304:
            out = [h for h in out if h[0] != b"content-length"]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})


def security_headers(host: str, media: str = "") -> dict[str, str]:
    """The Content-Security-Policy and its companions. The WebSocket origin is named as well as
    'self', since older browsers do not count ws: as the page's own origin."""
    sockets = f" ws://{host} wss://{host}" if _SAFE_HOST.fullmatch(host) else ""
    policy = (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:{media}; "
        f"connect-src 'self'{sockets}{media}; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    return {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        # Invitation and reset links carry their token in the query: never send it onwards.
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "x-frame-options": "DENY",
    }


def render_index(template: str, base: str, sources: dict[str, bytes]) -> bytes:
    """index.html with its asset links versioned, and every module preloaded so the browser
    fetches the module graph at once instead of level by level."""
    preloads = "\n".join(
        f'  <link rel="modulepreload" href="{base}{name}">'
        for name in sources if name.endswith(".js")
    )
    return template.replace("{{ASSETS}}", base.rstrip("/")).replace(
        "{{MODULEPRELOAD}}", preloads).encode()


def _decoded_headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]


def _accepted_encodings(header: str) -> set[str]:
    accepted = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=")
        if name and not (params and quality.replace("0", "").strip(".") == ""):
            accepted.add(name.strip().lower())
    return accepted


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
