"""The example chat app (examples/chat/app.py) in a subprocess on a free port, for the load
tests of scenario files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.services import ROOT, free_port, wait_until

CHAT = ROOT / "examples" / "chat"


@contextmanager
def chat_app() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(CHAT / "app.py"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/socket.io/?EIO=4&transport=polling",
                                     timeout=1).status_code == 200, what="chat example")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
