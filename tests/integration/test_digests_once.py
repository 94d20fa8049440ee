"""The daily digest survives a worker that dies between posting it and taking its period, and
one that dies before posting it: the digest arrives once, through a real SMTP server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from core.ids import utcnow
from core.models import PageParams
from core.store.mail import MailStatus
from core.store.preferences import Channel
from core.store.stores import Stores
from tests.support.services import eventually
from tests.support.smtp import SmtpServer
from workers.schedule.deps import PeopleDeps
from workers.schedule.digests import period_end, send_digests

EMAIL = "cy@example.com"


class WorkerDied(Exception):
    """Stands for the SIGKILL of the worker at that point."""


async def dies(*_args: Any, **_kwargs: Any) -> Any:
    raise WorkerDied


async def digest_owed(stores: Stores) -> str:
    """Cy gets assigned tasks in the digest, and has two such notifications."""
    user = await stores.users.create(email=EMAIL, name="Cy", password_hash=None)
    await stores.preferences.update(user.id, channels={"task.assigned": Channel.DIGEST})
    for title in ("One", "Two"):
        made = await stores.notifications.create(user.id, "task.assigned", title)
    await millisecond_over(made.created_at)
    return user.id


async def millisecond_over(created_at: datetime) -> None:
    """A digest covers whole milliseconds (`period_end`): wait until this one is over."""
    await eventually(lambda: period_end(utcnow()) >= created_at,
                     what="the millisecond after the notification's")


async def digests(stores: Stores) -> list[Any]:
    page = await stores.mail.page(PageParams(limit=20), None)
    return [m for m in page.items if m.kind == "digest"]


async def arrived_once(stores: Stores, smtp: SmtpServer) -> None:
    async def sent() -> bool:
        return [m.status for m in await digests(stores)] == [MailStatus.SENT]

    await eventually(sent, what="the digest sent")
    assert len(smtp.to(EMAIL, "digest")) == 1


@pytest.mark.parametrize("step", ["post", "take the period", "take the period, same ms"])
async def test_a_digest_survives_a_worker_that_dies_midway(
    people: PeopleDeps, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    stores = people.stores
    user_id = await digest_owed(stores)
    if step.endswith("same ms"):  # both runs in one millisecond: the same period end
        frozen = utcnow()
        monkeypatch.setattr("workers.schedule.digests.utcnow", lambda: frozen)
    with pytest.MonkeyPatch.context() as dying:
        if step == "post":
            dying.setattr(stores.mail, "queue", dies)
        else:
            dying.setattr(stores.preferences, "claim_digest", dies)
        with pytest.raises(WorkerDied):
            await send_digests(people)

    # The next run: it posts the digest if it was not, and takes the period either way.
    assert await send_digests(people) == (1 if step == "post" else 0)
    await arrived_once(stores, smtp)
    taken = (await stores.preferences.get(user_id)).last_digest_at
    assert taken is not None
    # Nothing is owed now: a third run posts nothing.
    assert await send_digests(people) == 0
    assert len(await digests(stores)) == 1


async def test_what_came_after_a_digest_posted_by_a_dead_worker_waits_for_the_next(
    people: PeopleDeps, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = people.stores
    user_id = await digest_owed(stores)
    monkeypatch.setattr(stores.preferences, "claim_digest", dies)
    with pytest.raises(WorkerDied):
        await send_digests(people)
    monkeypatch.undo()
    three = await stores.notifications.create(user_id, "task.assigned", "Three")
    await millisecond_over(three.created_at)

    assert await send_digests(people) == 0  # the posted one stands, for One and Two
    assert await send_digests(people) == 1  # Three, in a digest of its own
    await eventually(lambda: len(smtp.to(EMAIL, "digest")) == 2, what="the second digest")
    second = [m for m in smtp.to(EMAIL, "digest") if "Three" in str(m.get_body())]
    assert len(second) == 1 and "One" not in str(second[0].get_body())
