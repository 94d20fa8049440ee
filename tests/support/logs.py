"""Capturing what Roomcast logs, as its JSON formatter writes it, at INFO."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from roomcast.logs import JsonFormatter


@contextlib.contextmanager
def json_log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
