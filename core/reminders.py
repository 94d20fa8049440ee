"""Planning reminders when a meeting or task changes: the records in the store (the truth)
and a Taskiq schedule for each (the trigger). A meeting that moves moves its reminders; one
cancelled or deleted, or a task done, unassigned or without a due day, drops them.

A trigger that cannot be set (the queue is unreachable) is logged: the record stands, and
the workers' minute sweep sends a due reminder whose trigger never came.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from core.errors import RoomcastError
from core.ids import utcnow
from core.schedule import REMIND, Dispatch
from core.settings import Settings
from core.store.meetings import Meeting, MeetingStatus
from core.store.reminders import MEETING_LEADS, Reminder, ReminderKind, reminder_id
from core.store.stores import Stores
from core.store.tasks import Task, TaskStatus

log = logging.getLogger("roomcast.reminders")


class ReminderPlanner:
    def __init__(self, settings: Settings, stores: Stores, dispatch: Dispatch) -> None:
        self._settings = settings
        self._stores = stores
        self._dispatch = dispatch

    async def meeting(self, meeting: Meeting) -> None:
        """One reminder per lead time, at `scheduled_at - lead`, while it is scheduled; a
        reminder whose time has passed already is not sent (the meeting is too close)."""
        now = utcnow()
        for lead in MEETING_LEADS:
            due = meeting.scheduled_at - timedelta(minutes=lead)
            rid = reminder_id(ReminderKind.MEETING, meeting.id, lead)
            if meeting.status == MeetingStatus.SCHEDULED and due > now:
                await self._plan(ReminderKind.MEETING, meeting.id, meeting.project_id, due,
                                 lead)
            else:
                await self._drop(rid)

    async def task(self, task: Task) -> None:
        """Due on its day, overdue the day after, at TASK_REMINDER_HOUR (UTC), to whoever is
        its assignee then; none once it is done, unassigned or without a due day."""
        owed = task.assignee_id is not None and task.due_date is not None and (
            task.status != TaskStatus.DONE)
        for kind, days in ((ReminderKind.TASK_DUE, 0), (ReminderKind.TASK_OVERDUE, 1)):
            if owed and task.due_date is not None:
                at = datetime.combine(task.due_date + timedelta(days=days),
                                      time(self._settings.task_reminder_hour), UTC)
                if at > utcnow():
                    await self._plan(kind, task.id, task.project_id, at)
                    continue
            await self._drop(reminder_id(kind, task.id))

    async def drop_all(self, subject_id: str) -> None:
        """The meeting or task is gone: none of its reminders is owed."""
        for reminder in await self._stores.reminders.for_subject(subject_id):
            await self._drop(reminder.id)

    async def _plan(self, kind: ReminderKind, subject_id: str, project_id: str,
                    due: datetime, lead: int = 0) -> None:
        current = await self._stores.reminders.get(reminder_id(kind, subject_id, lead))
        if current is not None and current.state == "pending" and current.due_at == due:
            return  # unchanged: keep its trigger
        planned = await self._stores.reminders.plan(kind, subject_id, project_id, due, lead)
        if current is not None:
            await self._untrigger(current)
        await self._trigger(planned)

    async def _drop(self, rid: str) -> None:
        cancelled = await self._stores.reminders.cancel(rid)
        if cancelled is not None:
            await self._untrigger(cancelled)

    async def _trigger(self, reminder: Reminder) -> None:
        try:
            await self._dispatch.at(reminder.schedule_id, reminder.due_at, REMIND,
                                    reminder_id=reminder.id, version=reminder.version)
        except RoomcastError as exc:
            log.warning("reminder %s is due at %s but has no trigger (%s): the sweep sends it",
                        reminder.id, reminder.due_at.isoformat(), exc.message)

    async def _untrigger(self, reminder: Reminder) -> None:
        # A schedule left behind is harmless: it names an older version, which does nothing.
        try:
            await self._dispatch.cancel(reminder.schedule_id)
        except RoomcastError as exc:
            log.info("schedule %s stays (%s); it finds nothing to send", reminder.schedule_id,
                     exc.message)
