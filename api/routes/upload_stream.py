"""Reading one file out of a multipart body as it arrives, never holding it whole.

python-multipart's streaming parser is fed the request's chunks; the bytes of the part named
`file` are yielded as soon as they are parsed, hashed, and counted against the size cap, so
an oversized upload is refused (413) while it streams rather than after.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from core.errors import BadRequest, PayloadTooLarge

HEAD_BYTES = 4096


@dataclass
class FilePart:
    """What the stream learned about the file once consumed (filename as soon as it starts)."""

    filename: str | None = None
    size: int = 0
    head: bytes = b""
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    complete: bool = False


@dataclass
class _Parsing:
    header_field: bytes = b""
    header_value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    in_file: bool = False
    out: list[bytes] = field(default_factory=list)
    files_seen: int = 0


def boundary_of(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise BadRequest("send the file as multipart/form-data in a part named 'file'")
    return options[b"boundary"]


def stream_file(request: Request, part: FilePart, *, max_bytes: int) -> AsyncIterator[bytes]:
    """The bytes of the part named `file`; fills `part` as it goes."""
    state = _Parsing()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        state.headers[state.header_field.lower()] = state.header_value
        state.header_field = state.header_value = b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(state.headers.get(b"content-disposition", b""))
        state.in_file = options.get(b"name") == b"file" and b"filename" in options
        if state.in_file:
            state.files_seen += 1
            part.filename = options[b"filename"].decode("utf-8", errors="replace")
        state.headers = {}

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.in_file and state.files_seen == 1:
            state.out.append(data[start:end])

    def on_part_end() -> None:
        if state.in_file and state.files_seen == 1:
            part.complete = True
        state.in_file = False

    parser = MultipartParser(boundary_of(request), {
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })

    async def chunks() -> AsyncIterator[bytes]:
        received = 0
        async for raw in request.stream():
            received += len(raw)
            try:
                parser.write(raw)
            except ParseError as exc:
                raise BadRequest("the multipart body is malformed") from exc
            for data in state.out:
                part.size += len(data)
                if part.size > max_bytes:
                    raise PayloadTooLarge(f"uploads are limited to {max_bytes} bytes")
                part.sha256.update(data)
                if len(part.head) < HEAD_BYTES:
                    part.head += data[: HEAD_BYTES - len(part.head)]
                yield data
            state.out.clear()
        parser.finalize()
        if not part.complete:
            raise BadRequest("the body has no complete part named 'file' with a filename")

    return chunks()
