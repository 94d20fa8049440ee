"""A reminder whose worker dies after reminding someone and before striking them off: the
worker that takes it over once the claim lapses finds that step done. The recipient has one
notification, one `notification` and one `meeting.reminded` event, and one mail through a
real SMTP server (aiosmtpd in its own process), on the embedded store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from core.errors import ServiceUnavailable
from core.ids import epoch_ms, utcnow
from core.models import PageParams
from core.store.mail import MailStatus
from core.store.reminders import Reminder, ReminderKind, ReminderState
from core.store.stores import Stores
from tests.support.domain import RecordingEmitter
from tests.support.services import eventually
from tests.support.smtp import SmtpServer
from workers.schedule.deps import PeopleDeps
from workers.schedule.reminders import MEETING_REMINDED, fire

LEAD = timedelta(minutes=5)
EMAIL = "ada@example.com"


class WorkerDied(Exception):
    """Stands for the SIGKILL of the worker at that point."""


async def due_reminder(stores: Stores) -> tuple[str, Reminder]:
    """Ada, in a project whose meeting starts in 5 minutes, chose to be reminded 5 before."""
    user = await stores.users.create(email=EMAIL, name="Ada", password_hash=None)
    await stores.preferences.update(user.id, reminder_minutes=5)
    project = await stores.projects.create(name="Lab", owner_id=user.id)
    start = (utcnow() + LEAD).replace(microsecond=0)  # due now (a second ago at most)
    meeting = await stores.meetings.create(project_id=project.id, title="Standup", agenda="",
                                           scheduled_at=start, created_by=user.id)
    reminder = await stores.reminders.plan(ReminderKind.MEETING, meeting.id, project.id,
                                           start - LEAD, lead_minutes=5)
    return user.id, reminder


def pushed(recorder: RecordingEmitter, event: str) -> list[dict[str, Any]]:
    return [data for _room, name, data in recorder.of("emit") if name == event]


class RedisDown(RecordingEmitter):
    """Refuses every publish, as the emitter does while Redis is unreachable."""

    async def emit(self, room: str, event: str, data: dict[str, Any]) -> int:
        raise ServiceUnavailable("the event could not be published")


async def taken_over(people: PeopleDeps, reminder: Reminder, recorder: RecordingEmitter,
                     smtp: SmtpServer, user_id: str) -> None:
    """Once the first claim lapsed, a second worker fires the reminder: Ada has been reminded
    once, in every way."""
    stores = people.stores

    async def lapsed() -> bool:
        held = await stores.reminders.get(reminder.id)
        return held is not None and held.lease_until < epoch_ms()

    await eventually(lapsed, what="the first claim lapsed")
    second = dataclasses.replace(people, emitter=recorder, worker_id="second")
    assert await fire(second, reminder.id, reminder.version) == 1
    done = await stores.reminders.get(reminder.id)
    assert done is not None
    assert (done.state, done.owner, done.delivered) == (ReminderState.SENT, "second", [user_id])

    notes = (await stores.notifications.list_for_user(user_id, PageParams(limit=10))).items
    assert [n.kind for n in notes] == ["meeting.reminder"]
    assert [e["id"] for e in pushed(recorder, "notification")] == [notes[0].id]
    assert [e["notification_id"] for e in pushed(recorder, MEETING_REMINDED)] == [notes[0].id]

    async def mailed() -> list[Any]:
        page = await stores.mail.page(PageParams(limit=10), None)
        return [m for m in page.items if m.status == MailStatus.SENT]

    outbox = await eventually(mailed, what="the mail sent")
    assert [m.to for m in outbox] == [EMAIL]
    # Sent is recorded after the server took it: what the server holds now is all it gets.
    assert len(smtp.to(EMAIL, "Standup starts in")) == 1
    assert len((await stores.mail.page(PageParams(limit=10), None)).items) == 1


async def test_a_worker_that_dies_after_reminding_leaves_nothing_to_send_twice(
    people: PeopleDeps, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, reminder = await due_reminder(people.stores)
    recorder = RecordingEmitter(people.emitter)
    first = dataclasses.replace(people, emitter=recorder, worker_id="first")

    async def dies(*_args: Any) -> None:
        raise WorkerDied

    # The first worker reminds Ada, and dies before striking her off.
    monkeypatch.setattr(people.stores.reminders, "delivered_to", dies)
    with pytest.raises(WorkerDied):
        await fire(first, reminder.id, reminder.version)
    monkeypatch.undo()
    assert len(pushed(recorder, "notification")) == 1
    assert len(pushed(recorder, MEETING_REMINDED)) == 1
    await taken_over(people, reminder, recorder, smtp, user_id)


async def test_a_push_that_failed_is_sent_by_the_next_worker(
    people: PeopleDeps, smtp: SmtpServer
) -> None:
    user_id, reminder = await due_reminder(people.stores)
    first = dataclasses.replace(people, emitter=RedisDown(people.emitter), worker_id="first")
    with pytest.raises(ServiceUnavailable):
        await fire(first, reminder.id, reminder.version)
    # The mail was queued before the push; the notification went with the failed push.
    assert await people.stores.notifications.unread_count(user_id) == 0
    await taken_over(people, reminder, RecordingEmitter(people.emitter), smtp, user_id)
