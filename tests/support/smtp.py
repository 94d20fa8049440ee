"""A real SMTP server for tests: aiosmtpd's own server (`python -m aiosmtpd`) in a process of
its own on a free port, keeping what it receives in a Maildir the tests read."""

from __future__ import annotations

import asyncio
import mailbox
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from tests.support.services import free_port, wait_until

LINK = re.compile(r"https?://\S+\?token=([A-Za-z0-9_\-]+)")


@dataclass
class SmtpServer:
    port: int
    maildir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepting() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("aiosmtpd exited")
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_until(accepting, what="aiosmtpd")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def messages(self) -> list[EmailMessage]:
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        found = [message_from_bytes(box.get_bytes(key), policy=policy.default)
                 for key in box.iterkeys()]
        return sorted((m for m in found if isinstance(m, EmailMessage)),
                      key=lambda m: str(m["Date"]))

    def to(self, address: str, subject_has: str = "") -> list[EmailMessage]:
        return [m for m in self.messages()
                if m["To"] == address and subject_has in str(m["Subject"])]

    async def wait_for(self, check: Callable[[], list[EmailMessage]],
                       within: float = 30) -> list[EmailMessage]:
        """Poll the Maildir until `check` finds something (bounded; not a timing check)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = check()
            if found:
                return found
            if loop.time() > deadline:
                raise AssertionError(f"no such mail within {within}s; have "
                                     f"{[(m['To'], m['Subject']) for m in self.messages()]}")
            await asyncio.sleep(0.05)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage) -> str:
    found = LINK.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


@contextmanager
def smtp_server(directory: Path, port: int | None = None) -> Iterator[SmtpServer]:
    server = SmtpServer(port or free_port(), directory / "maildir").start()
    try:
        yield server
    finally:
        server.stop()
