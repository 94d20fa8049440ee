"""The Taskiq tasks of the people side: send a mail, send a reminder, the minute sweep, the
daily digest. The sweep and the digest are cron schedules on their tasks' labels (Taskiq's
LabelScheduleSource); reminders and mail retries are dynamic schedules."""

from __future__ import annotations

import logging
from collections.abc import Callable

from taskiq import AsyncBroker

from core.errors import RoomcastError
from core.schedule import DIGEST, REMIND, SEND_MAIL, SWEEP
from core.settings import Settings
from workers.mail.sender import send_mail
from workers.schedule.deps import PeopleDeps
from workers.schedule.digests import send_digests
from workers.schedule.reminders import fire

log = logging.getLogger("roomcast.reminders")
mail_log = logging.getLogger("roomcast.mail")
DepsOf = Callable[[], PeopleDeps]


async def sweep_once(deps: PeopleDeps) -> tuple[int, int]:
    """Send what is due but whose trigger never came (lost with a Redis that restarted empty,
    or never set while the queue was down): reminders, then mail. Returns how many of each."""
    reminded = 0
    for reminder in await deps.stores.reminders.due():
        try:
            await fire(deps, reminder.id)
            reminded += 1
        except RoomcastError as exc:
            log.warning("reminder %s not sent by the sweep: %s", reminder.id, exc.message)
    for mail_id in await deps.stores.mail.stranded():
        mail_log.error("mail %s: its sender stopped while handing it to the server; it may have "
                       "arrived, and is not sent again unless an admin does", mail_id)
    mailed = 0
    for mail_id in await deps.stores.mail.due():
        mailed += await send_mail(deps, mail_id)
    return reminded, mailed


def register_people_tasks(broker: AsyncBroker, settings: Settings, deps_of: DepsOf) -> None:
    async def send(mail_id: str) -> None:
        await send_mail(deps_of(), mail_id)

    async def remind(reminder_id: str, version: int | None = None) -> None:
        await fire(deps_of(), reminder_id, version)

    async def sweep() -> None:
        await sweep_once(deps_of())

    async def digest() -> None:
        await send_digests(deps_of())

    broker.register_task(send, task_name=SEND_MAIL)
    broker.register_task(remind, task_name=REMIND)
    broker.register_task(sweep, task_name=SWEEP,
                         schedule=[{"cron": "* * * * *", "schedule_id": SWEEP}])
    broker.register_task(digest, task_name=DIGEST, schedule=[
        {"cron": f"0 {settings.digest_hour} * * *", "schedule_id": DIGEST}])
