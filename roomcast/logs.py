"""Structured JSON logs, one object per line, carrying the request id when there is one."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from core.logcontext import request_id_var

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "request_id_var",
           "use_trace_ids"]

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "color_message", "request_id",
}
# uvicorn's own loggers are routed through ours; its access log is replaced by roomcast.access.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
_UVICORN_ACCESS = "uvicorn.access"
# The lines uvicorn and websockets write for every WebSocket connection on uvicorn's error
# logger: accepted, open, closed. roomcast.access writes one line per socket connect and one
# per disconnect, saying who; these are kept only at DEBUG. (uvicorn's line for a handshake the
# application refused, with its status, stays.)
_SOCKET_LINES = frozenset({'%s - "WebSocket %s" [accepted]', "connection open",
                           "connection closed"})
# The current trace and span ids, once tracing is on (use_trace_ids); None costs nothing.
_trace_ids: Callable[[], tuple[str, str] | None] | None = None


def use_trace_ids(source: Callable[[], tuple[str, str] | None] | None) -> None:
    """Write `trace_id` and `span_id` into every JSON line logged inside a span."""
    global _trace_ids
    _trace_ids = source


class JsonFormatter(logging.Formatter):
    """`ts` (UTC), `level`, `logger`, `message`, `request_id` during a request, then any
    `extra=` fields, then `exc` with the traceback."""

    converter = time.gmtime  # type: ignore[assignment]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get() or getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if _trace_ids is not None and (ids := _trace_ids()) is not None:
            entry["trace_id"], entry["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """For a developer's terminal (LOG_JSON=false); still names the request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        return f"{line} [request_id={request_id}]" if request_id else line


class _WithoutSocketLines(logging.Filter):
    """Drops uvicorn's and websockets' INFO line per WebSocket (`_SOCKET_LINES`) unless DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and isinstance(record.msg, str)
                    and record.msg in _SOCKET_LINES
                    and not _UVICORN_ERROR.isEnabledFor(logging.DEBUG))


_UVICORN_ERROR = logging.getLogger("uvicorn.error")
_without_socket_lines = _WithoutSocketLines()


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Send every logger, uvicorn's included, to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    _UVICORN_ERROR.addFilter(_without_socket_lines)  # once: one object
    access = logging.getLogger(_UVICORN_ACCESS)
    access.handlers.clear()
    access.disabled = True
    # Taskiq's scheduler logs every send at INFO (the minute sweep: a line a minute, per
    # process); what a send does is logged by Roomcast's own tasks.
    logging.getLogger("taskiq.cli.scheduler.run").setLevel(logging.WARNING)
