"""`roomcast serve` listens before it starts: a client that arrives while the process imports,
opens its store and starts the app is queued and answered once it is ready, not refused (a
refused Socket.IO client waits its backoff again, so a restart's herd would take longer); and
a port that cannot be had is a clear refusal to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from roomcast.listening import listen
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
ANNOUNCE = b"Roomcast is serving on"


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1",
            "--port", str(port)]


def test_a_client_arriving_during_start_up_is_queued_and_answered(tmp_path: Path) -> None:
    port = free_port()
    knocked: dict[str, object] = {}
    done = threading.Event()
    proc: subprocess.Popen[bytes] | None = None

    def knock() -> None:
        # Connect as soon as anything listens; note what the server had printed by then.
        while not done.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                time.sleep(0.002)  # nothing listens yet
                continue
            assert proc is not None and proc.stdout is not None
            knocked["printed"] = _available(proc.stdout.fileno())
            knocked["sock"] = sock
            return

    knocker = threading.Thread(target=knock, daemon=True)
    knocker.start()
    proc = subprocess.Popen(serve_command(port), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "ENV": "test", "DATA_DIR": str(tmp_path / "d")})
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    try:
        knocker.join(90)
        done.set()
        assert "sock" in knocked, "nothing listened within 90 s"
        # The connection was taken before the app had started (it announces itself once it has).
        assert ANNOUNCE not in knocked["printed"], knocked["printed"]
        sock = knocked["sock"]
        assert isinstance(sock, socket.socket)
        sock.settimeout(90)
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: roomcast\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    finally:
        done.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _available(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def test_a_port_in_use_is_a_refusal_to_start() -> None:
    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}: "
                                              "Address already in use"):
            listen("127.0.0.1", port)
        refused = subprocess.run(serve_command(port), cwd=ROOT, capture_output=True, text=True,
                                 env={**os.environ, "ENV": "test"}, timeout=60, check=False)
    finally:
        taken.close()
    assert refused.returncode == 2
    assert refused.stderr == (f"roomcast: refusing to start: cannot listen on 127.0.0.1:{port}: "
                              "Address already in use\n"), refused.stderr


def test_with_host_and_port_given_it_listens_before_reading_the_settings() -> None:
    # What `roomcast serve --host H --port P` has imported once it listens (roomcast/cli.py).
    probe = ("import sys\n"
             "from roomcast.cli import _listen_early, build_parser\n"
             "args = build_parser().parse_args(['serve', '--host', '127.0.0.1', '--port', '0'])\n"
             "sock = _listen_early(args)\n"
             "print(sock.getsockname()[1] > 0, 'core.settings' in sys.modules, "
             "'pydantic' in sys.modules, 'asyncio' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False", "False"]


def test_settings_are_still_checked_when_it_listened_early() -> None:
    port = free_port()
    refused = subprocess.run(serve_command(port), cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "ENV": "production"}, timeout=60, check=False)
    assert refused.returncode == 2
    assert refused.stderr.startswith("roomcast: refusing to start: ENV=production refuses "
                                     "the default JWT_SECRET"), refused.stderr
