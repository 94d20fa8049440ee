"""Stands in for websockets 17.4's reading and checking of a WebSocket opening handshake
(`Request.parse`, `parse_headers`, `ServerProtocol.process_request` and `accept`) and for
uvicorn 0.55.0's answer to it (`WebSocketsSansIOProtocol.handle_connect`'s scope and the
`websocket.accept` branch of `send`), for the requests that websockets accepts as they are.
Follows websockets' `_token_re` and `_value_re`; reads its `MAX_NUM_HEADERS` and
`MAX_LINE_LENGTH`.
Re-check on upgrade: tests/canary/test_websockets.py, tests/canary/test_uvicorn.py.

uvicorn's HTTP protocol parses the upgrade request, writes it out again and hands the bytes to
the WebSocket protocol, where websockets parses them a second time with its generator-based
reader into a `Headers` object, checks them, builds a `Response` (with a `Date` that uvicorn
then deletes and replaces by its own), and serializes it. `read_upgrade` reads the same bytes
with two regular expressions built from websockets' own, and `switching` writes
the same 101 response from the accept key and uvicorn's default headers.

The fast reading takes only what websockets would accept without a question: a GET, one
`Upgrade: websocket`, a `Connection` of plain tokens naming `upgrade`, one valid key, version
13, at most one `Origin`, no `Sec-WebSocket-Protocol`, no body headers, no extension offer
when permessage-deflate is on, lines well inside websockets' limits. Anything else is None,
and the request goes to websockets as before: it decides every refusal, its status code and
text, and every negotiation (tests/canary/test_handshake_fuzz.py compares the two).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any, NamedTuple
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
# websockets' `_token_re` and `_value_re` (http11.py; the canary checks they are these).
TOKEN = rb"[-!#$%&\'*+.^_`|~0-9a-zA-Z]+"
VALUE = rb"[\x09\x20-\x7e\x80-\xff]*"
# Header lines websockets' parse_headers accepts: a token, a colon, a value it accepts once
# stripped of spaces and tabs (which it accepts too), CRLF; and each one's name and stripped
# value, as websockets gives them to uvicorn.
_LINES = re.compile(rb"(?:" + TOKEN + rb":" + VALUE + rb"\r\n)*")
_FIELD = re.compile(rb"(" + TOKEN + rb"):[ \t]*(" + VALUE + rb"?)[ \t]*\r\n")
# A comma-separated list of tokens, a subset of what websockets' parse_connection accepts.
_TOKENS = re.compile(TOKEN + rb"(?:[ \t]*,[ \t]*" + TOKEN + rb")*")
_SPLIT = re.compile(rb"[ \t]*,[ \t]*")
# A request target of an absolute path and a query: RFC 3986's unreserved, sub-delims, ":", "@",
# "/", "?" and percent-encodings (checked as characters only: "%" is passed on as it is).
_TARGET = re.compile(rb"/[-A-Za-z0-9._~!$&'()*+,;=:@/?%]*")
_LINE_LIMIT = MAX_LINE_LENGTH - 16  # well inside websockets' own limit: the rest is theirs
_SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
# What the headers that matter are to the handshake; any other is passed on as it is.
_CONNECTION, _UPGRADE, _KEY, _VERSION, _ORIGIN, _EXTENSIONS, _REFUSED = range(7)
_ROLES = {b"connection": _CONNECTION, b"upgrade": _UPGRADE, b"sec-websocket-key": _KEY,
          b"sec-websocket-version": _VERSION, b"origin": _ORIGIN,
          b"sec-websocket-extensions": _EXTENSIONS, b"sec-websocket-protocol": _REFUSED,
          b"content-length": _REFUSED, b"transfer-encoding": _REFUSED}


class Upgrade(NamedTuple):
    """A WebSocket upgrade request websockets accepts as it is."""

    target: bytes  # the request target: path and query, as sent
    headers: list[tuple[bytes, bytes]]  # as websockets gives them to uvicorn
    accept: bytes  # the Sec-WebSocket-Accept value
    origin: str | None


def read_upgrade(data: bytes, *, extensions: bool, raw: bool = False) -> Upgrade | None:
    """The upgrade request in `data` (the whole request, nothing after it), or None when
    websockets must read it: anything it might refuse or negotiate. `extensions`: the server
    offers an extension (permessage-deflate), so an offer from the client is negotiated.

    `data` is the request as uvicorn's HTTP protocol writes it out again, or with `raw` as
    the client sent it (realtime/wire/uvicorn_http.py), which no HTTP parser has read yet: its
    target must then be made only of the characters RFC 3986 allows in a path and query
    (httptools refuses some others), it must hold one Connection header (uvicorn's HTTP
    protocol reads only the last), and its header names are given in lower case, as uvicorn
    gives them."""
    line, _, block = data.partition(b"\r\n")
    method, _, rest = line.partition(b" ")
    target, _, protocol = rest.partition(b" ")
    if (method != b"GET" or protocol != b"HTTP/1.1" or not target.isascii()
            or b"\n" in target or b"\r" in target or not block.endswith(b"\r\n")
            or (raw and not _TARGET.fullmatch(target))
            or not _LINES.fullmatch(block, 0, len(block) - 2)):
        return None
    headers: list[tuple[bytes, bytes]] = _FIELD.findall(block)
    if raw:
        headers = [(name.lower(), value) for name, value in headers]
    if len(headers) >= MAX_NUM_HEADERS or (
            len(data) > _LINE_LIMIT and max(map(len, data.split(b"\r\n"))) > _LINE_LIMIT):
        return None
    connection = False
    connections = 0
    upgrade: list[bytes] = []
    key: list[bytes] = []
    version: list[bytes] = []
    origin: list[bytes] = []
    for name, value in headers:
        role = _ROLES.get(name.lower())
        if role is None:
            continue
        if role == _CONNECTION:
            # uvicorn's HTTP protocol upgrades on its last Connection header alone.
            if not _TOKENS.fullmatch(value) or (raw and connections):
                return None
            connections += 1
            connection = connection or any(
                token.lower() == b"upgrade" for token in _SPLIT.split(value))
        elif role == _UPGRADE:
            upgrade.append(value)
        elif role == _KEY:
            key.append(value)
        elif role == _VERSION:
            version.append(value)
        elif role == _ORIGIN:
            origin.append(value)
        elif role == _REFUSED or extensions:
            return None
    if not connection or len(upgrade) != 1 or upgrade[0].lower() != b"websocket" or (
            version != [b"13"] or len(key) != 1 or len(origin) > 1 or not _valid_key(key[0])):
        return None
    accept = base64.b64encode(hashlib.sha1(key[0] + _GUID).digest())
    return Upgrade(target, headers, accept, origin[0].decode("latin-1") if origin else None)


def _valid_key(key: bytes) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False


def scope(protocol: Any, upgrade: Upgrade) -> dict[str, Any]:
    """The ASGI scope uvicorn's handle_connect builds for this request."""
    raw_path, _, query_string = upgrade.target.partition(b"?")
    root_path: str = protocol.root_path
    return {
        "type": "websocket",
        "asgi": {"version": protocol.asgi_version, "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": protocol.scheme,
        "server": protocol.server,
        "client": protocol.client,
        "root_path": root_path,
        "path": root_path + unquote(raw_path.decode("ascii")),
        "raw_path": root_path.encode("ascii") + raw_path,
        "query_string": query_string,
        "headers": upgrade.headers,
        "subprotocols": [],
        "state": protocol.app_state.copy(),
        "extensions": {"websocket.http.response": {}},
    }


# What a connection's scope keeps once the connection is accepted: what uvicorn's logs of the
# connection read (`get_client_addr`, `get_path_with_query_string`) and what Roomcast's connect
# reads (the client's address). The request's headers, the app state's copy and the ASGI
# extensions go, for all its life.
KEPT_SCOPE = ("type", "http_version", "scheme", "server", "client", "root_path", "path",
              "query_string")


def kept_scope(scope: dict[str, Any]) -> dict[str, Any]:
    """The part of an accepted connection's ASGI scope it keeps (`KEPT_SCOPE`)."""
    return {key: scope[key] for key in KEPT_SCOPE if key in scope}


class _Defaults:
    """The default headers' lines, kept while uvicorn keeps the same list (it makes a new one
    when the date changes)."""

    source: object = None
    lines = b""


_defaults = _Defaults()


def switching(accept: bytes, default_headers: list[tuple[bytes, bytes]],
              message: dict[str, Any]) -> bytes:
    """The 101 response uvicorn writes for `websocket.accept`: websockets' response with its
    Date replaced by uvicorn's default headers and the message's, names in lower case."""
    if default_headers is not _defaults.source:
        _defaults.lines = _lines(default_headers, None)
        _defaults.source = default_headers
    extra = b""
    if message.get("headers") or message.get("subprotocol"):
        extra = _lines(list(message.get("headers", [])), message.get("subprotocol"))
    return (_SWITCHING + b"Sec-WebSocket-Accept: " + accept + b"\r\n" + _defaults.lines + extra
            + b"\r\n")


def _lines(headers: list[tuple[bytes, bytes]], subprotocol: str | None) -> bytes:
    """Header lines as websockets' `Headers` checks and writes them (an invalid value raises
    its InvalidHeaderValue, as uvicorn's `send` would)."""
    lines = Headers()
    lines.update([(name.decode("latin-1").lower(), value.decode("latin-1"))
                  for name, value in headers])
    if subprotocol:
        lines["Sec-WebSocket-Protocol"] = subprotocol
    return lines.serialize()[:-2]
