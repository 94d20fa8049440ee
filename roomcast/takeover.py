"""`roomcast serve --take-over`: a restart whose new process is ready before the old one stops.

A plain restart (stop the old process, then start the new one) leaves clients unanswered while
the old process stops and then while the new one imports the server, which is most of its
start-up. With `--take-over` the new process is started while the old one still serves, on the
same port and data directory. It imports what serving needs first and reads the embedded
store's files as they stand (what the old process writes after is read once it has let go);
then it asks the old process to stop (SIGTERM to the process the embedded store's lock file
names, which then stops as on any SIGTERM: out of rotation, every socket told `session:ending`,
a clean exit), listens as soon as the old process has closed its listener (which it does
first), so reconnecting clients wait in the new process's backlog instead of being refused, and
opens the store as soon as the old process has let go of it, reading only what was written
since.

The running server is found through the embedded store's lock, and told from another holder
of the lock (an export, import or migrate, which is not stopped) by the `SERVING` file a
serving process writes beside it. With MONGO_URI there is no such lock (several processes
share that store), and a restart there is a rolling one behind the load balancer
(docs/operations.md).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.errors import ConfigError, DataDirInUse
from core.settings import Settings
from core.store.database import embedded_directory
from core.store.embedded.engine import read_ahead
from core.store.embedded.lock import DataDirLock, lock_owner
from roomcast.listening import listen

log = logging.getLogger("roomcast")

SERVING = "SERVING"  # beside the store's LOCK: the PID of the process serving from it
POLL = 0.001  # seconds between two tries at the port or the data directory
# Beyond the old process's SOCKET_DRAIN_SECONDS: the rest of its stop (`serve` gives the
# drain 5 s more, uvicorn's graceful shutdown up to 10 s), with room to spare.
MARGIN = 20.0

T = TypeVar("T")


def take_over(settings: Settings, host: str, port: int) -> socket.socket:
    """Stop the server that owns this data directory and return a socket listening on
    (host, port) once it has let go of both; ConfigError when that cannot be (no embedded
    store, the port held by something else, the old process still running after
    SOCKET_DRAIN_SECONDS + MARGIN seconds)."""
    if settings.mongo_uri:
        raise ConfigError("--take-over finds the running server by the embedded store's lock: "
                          "with MONGO_URI, run several processes and restart them one at a time "
                          "behind the load balancer (docs/operations.md)")
    directory = embedded_directory(settings)
    owner = lock_owner(directory)
    if owner is None:  # nothing to take over: an ordinary start
        return listen(host, port)
    if serving_pid(directory) != owner:
        raise ConfigError(f"the embedded store in {directory} is held by process {owner}, "
                          "which is not a running `roomcast serve` (an export, import or "
                          "migrate?): wait for it to end")
    log.info("taking over from process %d", owner, extra={"event": "serve.take_over",
                                                          "pid": owner})
    # The store read while the old process still serves: once it has let go, the store opens
    # from there (core/store/embedded/engine.py, `read_ahead`), not from its first byte.
    began = time.monotonic()
    if read_ahead(directory, settings.mongo_db) is not None:
        log.info("read the embedded store ahead in %.2f s", time.monotonic() - began)
    with contextlib.suppress(ProcessLookupError):
        os.kill(owner, signal.SIGTERM)
    limit = settings.socket_drain_seconds + MARGIN
    deadline = time.monotonic() + limit
    asked = f"{limit:g} s after process {owner} was asked to stop"
    sock = _until(lambda: _listen_if_free(host, port), deadline,
                  f"{host}:{port} is still in use {asked}")
    try:
        _until(lambda: _free_directory(directory), deadline,
               f"the embedded store in {directory} is still held {asked}")
    except ConfigError:
        sock.close()
        raise
    return sock


def mark_serving(directory: Path) -> None:
    """Say that this process, which holds the store's lock, serves (`--take-over` stops only
    a server). The file outlives the process: it names a server only while that process
    holds the lock."""
    staged = directory / f"{SERVING}.tmp"
    staged.write_text(str(os.getpid()))
    staged.replace(directory / SERVING)  # never read half written


def serving_pid(directory: Path) -> int | None:
    try:
        written = (directory / SERVING).read_text().strip()
    except OSError:
        return None
    return int(written) if written.isdigit() else None


def _listen_if_free(host: str, port: int) -> socket.socket | None:
    try:
        return listen(host, port)
    except ConfigError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            return None
        raise


def _free_directory(directory: Path) -> bool | None:
    """True once nobody holds the store's lock (taken and let go here: the store takes it
    again as it opens)."""
    try:
        DataDirLock(directory).release()
    except DataDirInUse:
        return None
    return True


def _until(attempt: Callable[[], T | None], deadline: float, failure: str) -> T:
    while True:
        found = attempt()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise ConfigError(failure)
        time.sleep(POLL)
