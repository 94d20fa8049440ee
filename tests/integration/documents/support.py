"""Helpers for the document tests: files of each kind, uploads, downloads, stored keys."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from typing import Any

import httpx
from PIL import Image

from core.objects_s3 import S3ObjectStorage
from roomcast.factory import Services

API = "/api/v1"


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels over a few bytes of data: a
    decompression bomb's shape, refused from its header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def pdf(width: float = 595, height: float = 842) -> bytes:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    document.new_page(width, height)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def put(http: httpx.AsyncClient, project_id: str, headers: dict[str, str], name: str,
              content: bytes, **params: str) -> httpx.Response:
    return await http.post(f"{API}/projects/{project_id}/documents", params=params,
                           files={"file": (name, content)}, headers=headers)


async def put_raw(http: httpx.AsyncClient, project_id: str, headers: dict[str, str],
                  name: str, content: bytes) -> httpx.Response:
    """A multipart body written by hand, its file name sent as raw UTF-8 bytes: control
    characters included, as a hostile client sends them (httpx would percent-encode them)."""
    boundary = "b0undary7f3a"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return await http.post(f"{API}/projects/{project_id}/documents", content=body, headers={
        **headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})


async def fetch(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    """GET, following a redirect to a presigned URL with a client of its own (the presigned
    URL must not carry the bearer token)."""
    response = await http.get(url, headers=headers)
    if response.status_code != 307:
        return response
    async with httpx.AsyncClient() as outside:
        return await outside.get(response.headers["location"])


async def stored_keys(services: Services) -> list[str]:
    objects = services.ctx.objects
    if isinstance(objects, S3ObjectStorage):
        return await objects.keys()
    root = services.settings.data_dir / "objects"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def error_code(response: httpx.Response) -> Any:
    return response.json()["error"]["code"]
