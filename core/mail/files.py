"""The embedded default: each mail written as an .eml file under DATA_DIR/mail, with one log
line naming it, so a newcomer without an SMTP server can open the link it carries."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from core.mail.message import HandOver, MailDeliveryError, MailMessage

log = logging.getLogger("roomcast.mail")


class FileMailer:
    def __init__(self, directory: Path, sender: str) -> None:
        self._directory = directory
        self._sender = sender

    async def send(self, message: MailMessage, hand_over: HandOver | None = None) -> None:
        path = self._directory / f"{message.message_id}.eml"
        if hand_over is not None:
            await hand_over()
        try:
            await asyncio.to_thread(self._write, path, bytes(message.mime(self._sender)))
        except OSError as exc:
            raise MailDeliveryError(f"could not write {path}: {exc}") from exc
        log.info("mail to %s (%s) written to %s", message.to, message.subject, path)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a mail
