"""A mail of the outbox leaves at most once, through a real SMTP server (aiosmtpd in its own
process): a sender that dies before the message goes out is replaced and the mail arrives
once; one that dies after the server took it leaves it `unconfirmed`, never sent again on its
own; one whose claim lapsed and was taken over sends nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.ids import epoch_ms
from core.store.mail import MailStatus, OutgoingMail
from tests.support.services import eventually
from tests.support.smtp import SmtpServer, text_of
from workers.mail.sender import send_mail
from workers.schedule.deps import PeopleDeps
from workers.schedule.tasks import sweep_once

EMAIL = "bo@example.com"


class WorkerDied(Exception):
    """Stands for the SIGKILL of the worker at that point."""


async def dies(*_args: Any) -> bool:
    raise WorkerDied


async def killed_at(step: str, deps: PeopleDeps, mail_id: str,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender dies when it comes to the outbox's `step`."""
    monkeypatch.setattr(deps.stores.mail, step, dies)
    with pytest.raises(WorkerDied):
        await send_mail(deps, mail_id)
    monkeypatch.undo()


async def queued(deps: PeopleDeps, subject: str, text: str = "hello") -> str:
    """A mail in the outbox that no task was asked to send: the test sends it."""
    mail = await deps.stores.mail.queue(OutgoingMail(
        kind="notification", to=EMAIL, subject=subject, text=text, html=f"<p>{text}</p>"))
    return mail.id


async def lapse(deps: PeopleDeps, mail_id: str) -> None:
    async def lapsed() -> bool:
        mail = await deps.stores.mail.get(mail_id)
        return mail is not None and mail.lease_until < epoch_ms()

    await eventually(lapsed, what=f"the lease on mail {mail_id} lapsed")


async def status(deps: PeopleDeps, mail_id: str) -> MailStatus:
    mail = await deps.stores.mail.get(mail_id)
    assert mail is not None
    return mail.status


async def test_a_sender_that_dies_before_the_message_goes_out_is_replaced(
    people: PeopleDeps, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail_id = await queued(people, "Before the café", "Grüße, à bientôt")
    await killed_at("going_out", people, mail_id, monkeypatch)
    assert await status(people, mail_id) == MailStatus.QUEUED

    await lapse(people, mail_id)
    assert await sweep_once(people) == (0, 1)
    assert await status(people, mail_id) == MailStatus.SENT
    [mail] = smtp.to(EMAIL, "Before")
    assert (str(mail["Subject"]), text_of(mail).strip()) == ("Before the café",
                                                             "Grüße, à bientôt")


async def test_a_sender_that_dies_after_the_server_took_it_sends_it_once(
    people: PeopleDeps, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail_id = await queued(people, "After")
    await killed_at("sent", people, mail_id, monkeypatch)
    assert len(smtp.to(EMAIL, "After")) == 1

    await lapse(people, mail_id)
    assert await sweep_once(people) == (0, 0)
    assert await send_mail(people, mail_id) is False  # a trigger that comes late
    stored = await people.stores.mail.get(mail_id)
    assert stored is not None and stored.status == MailStatus.UNCONFIRMED
    assert "may have arrived" in (stored.last_error or "")
    assert len(smtp.to(EMAIL, "After")) == 1
    # An admin who knows it did not arrive sends it again.
    assert await people.stores.mail.requeue(mail_id) is not None
    assert await send_mail(people, mail_id) is True
    assert len(smtp.to(EMAIL, "After")) == 2


async def test_a_sender_whose_claim_was_taken_over_sends_nothing(
    people: PeopleDeps, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail_id = await queued(people, "Taken")
    other = dataclasses.replace(people, worker_id="other")
    going_out = people.stores.mail.going_out

    async def stalled(mail_id: str, attempt: int, lease_ms: int) -> bool:
        if attempt == 1:  # the first sender stalls past its lease; another takes over
            await lapse(people, mail_id)
            assert await send_mail(other, mail_id) is True
        return await going_out(mail_id, attempt, lease_ms)

    monkeypatch.setattr(people.stores.mail, "going_out", stalled)
    assert await send_mail(people, mail_id) is False
    stored = await people.stores.mail.get(mail_id)
    assert stored is not None and (stored.status, stored.attempts) == (MailStatus.SENT, 2)
    assert len(smtp.to(EMAIL, "Taken")) == 1
