"""Context carried into every log line: the id of the request being served.

It lives in `core` so any layer may set it (the HTTP edge does, per request) and the log
formatter in the composition root reads it, without either importing the other.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
