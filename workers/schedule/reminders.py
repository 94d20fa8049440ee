"""Sending a reminder that is due: claimed once, each recipient reminded once (a notification
of the reminder's kind, by their preferences: in-app, also mailed, or in the digest; and for
meetings the `meeting.reminded` event in their room), then marked sent.

Who receives it is read now: the members whose lead time is this reminder's (meetings), or
the task's assignee. A worker that dies midway leaves the claim to lapse; whoever takes it
over skips the recipients already struck off.

A worker can die after reminding someone and before striking them off, so the one that takes
over reminds them again: every effect of that step is keyed by the reminder, its version and
the user, so repeating it finds it done and shows nothing twice. The notification's id and
the mail's outbox id are made from that name (stored once); the `notification` and
`meeting.reminded` events are emitted only by the call that stored the notification. So a
death before the notification is stored loses nothing (the next worker sends it all), and
one after it costs at most the live events of that moment (the notification is listed, the
mail queued). A push that fails without a death (Redis unreachable) takes the notification
back out, so the worker that retries pushes it. The mail itself leaves the outbox at most
once (workers/mail/sender.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.ids import utcnow
from core.store.meetings import Meeting, MeetingStatus
from core.store.preferences import Channel
from core.store.reminders import Reminder, ReminderKind
from workers.schedule.deps import USER_ROOM, PeopleDeps

log = logging.getLogger("roomcast.reminders")
MEETING_REMINDED = "meeting.reminded"


@dataclass
class Notice:
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    meeting: Meeting | None = None


async def fire(deps: PeopleDeps, reminder_id: str, version: int | None = None) -> int:
    """Send the reminder if it is due and unclaimed; return how many people it reached."""
    reminder = await deps.stores.reminders.claim(reminder_id, deps.worker_id, deps.lease_ms,
                                                 version)
    if reminder is None:
        return 0
    notice, recipients = await _what_and_whom(deps, reminder)
    reached = 0
    for user_id in recipients:
        if user_id in reminder.delivered:
            continue
        assert notice is not None
        await _remind(deps, reminder, notice, user_id)
        await deps.stores.reminders.delivered_to(reminder.id, reminder.version, user_id)
        reached += 1
    await deps.stores.reminders.finish(reminder.id, reminder.version, deps.worker_id)
    log.info("reminder %s sent to %d people", reminder.id, reached)
    return reached


async def _what_and_whom(deps: PeopleDeps, reminder: Reminder) -> tuple[Notice | None,
                                                                         list[str]]:
    if reminder.kind == ReminderKind.MEETING:
        return await _meeting(deps, reminder)
    return await _task(deps, reminder)


async def _meeting(deps: PeopleDeps, reminder: Reminder) -> tuple[Notice | None, list[str]]:
    stores = deps.stores
    meeting = await stores.meetings.get(reminder.subject_id)
    # A meeting that started, ended or was cancelled (or moved: then this version is stale
    # and was not claimable) needs no reminder.
    if meeting is None or meeting.status != MeetingStatus.SCHEDULED:
        return None, []
    if meeting.scheduled_at - timedelta(minutes=reminder.lead_minutes) != reminder.due_at:
        return None, []
    project = await stores.projects.get(meeting.project_id)
    if project is None:
        return None, []
    prefs = await stores.preferences.many([m.user_id for m in project.members])
    whom = [uid for uid, p in prefs.items()
            if p.reminder_minutes == reminder.lead_minutes
            and p.channel(ReminderKind.MEETING.value, project.id) != Channel.OFF]
    minutes = max(0, round((meeting.scheduled_at - utcnow()).total_seconds() / 60))
    notice = Notice(
        kind=ReminderKind.MEETING.value, title=f"{meeting.title} starts in {minutes} min",
        body=f"{project.name}: {meeting.title} at {meeting.scheduled_at:%Y-%m-%d %H:%M} UTC",
        data={"meeting_id": meeting.id, "project_id": project.id,
              "scheduled_at": meeting.scheduled_at.isoformat().replace("+00:00", "Z"),
              "lead_minutes": reminder.lead_minutes},
        meeting=meeting)
    return notice, sorted(whom)


async def _task(deps: PeopleDeps, reminder: Reminder) -> tuple[Notice | None, list[str]]:
    task = await deps.stores.tasks.get(reminder.subject_id)
    if task is None or task.assignee_id is None or task.status == "done":
        return None, []
    overdue = reminder.kind == ReminderKind.TASK_OVERDUE
    title = f"{'Overdue' if overdue else 'Due today'}: {task.title}"
    notice = Notice(kind=reminder.kind.value, title=title,
                    body=f"due {task.due_date}" if task.due_date else "",
                    data={"task_id": task.id, "project_id": task.project_id,
                          "due_date": str(task.due_date)})
    return notice, [task.assignee_id]


async def _remind(deps: PeopleDeps, reminder: Reminder, notice: Notice, user_id: str) -> None:
    name = f"{reminder.id}.v{reminder.version}:{user_id}"
    # None as well when this recipient's notification was stored by a worker that died before
    # striking them off: it pushed the events then, or they are lost, never sent twice.
    sent = await deps.notices.send(user_id, notice.kind, notice.title, notice.body,
                                   notice.data, notice_id=name)
    if sent is not None and notice.meeting is not None:
        await deps.emitter.emit(USER_ROOM.format(user_id), MEETING_REMINDED, {
            "meeting": notice.meeting.model_dump(mode="json"),
            "lead_minutes": reminder.lead_minutes, "notification_id": sent["id"]})
