"""The JSON module Socket.IO packets are encoded with: orjson behind the `json` interface."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(data: str | bytes, **_: Any) -> Any:
    return orjson.loads(data)
