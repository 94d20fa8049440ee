"""What the REST side uses to reach people: posting mail, notifying by preferences, and
planning reminders; built per use from the app's context (they hold no state)."""

from __future__ import annotations

import logging
from typing import Any

from api.context import AppContext
from core.errors import RoomcastError
from core.mail.post import PostOffice
from core.notices import Notices
from core.reminders import ReminderPlanner
from core.schedule import Dispatch

log = logging.getLogger("roomcast.api")


def dispatch_of(ctx: AppContext) -> Dispatch:
    assert ctx.dispatch is not None, "the composition root sets the dispatch"
    return ctx.dispatch


def post_office(ctx: AppContext) -> PostOffice:
    return PostOffice(ctx.settings, ctx.stores, dispatch_of(ctx))


def planner(ctx: AppContext) -> ReminderPlanner:
    return ReminderPlanner(ctx.settings, ctx.stores, dispatch_of(ctx))


def notices(ctx: AppContext) -> Notices:
    async def deliver(user_id: str, *, kind: str, title: str, body: str,
                      data: dict[str, Any], notice_id: str | None) -> dict[str, Any]:
        return await ctx.emitter.notify(user_id, kind=kind, title=title, body=body, data=data)

    return Notices(ctx.stores, post_office(ctx), deliver)


async def notify(ctx: AppContext, user_id: str, kind: str, title: str,
                 data: dict[str, Any], body: str = "") -> None:
    """Notify the user as their preferences say; a change is stored already, so a push that
    fails (Redis down) is logged, not raised: the notification is stored and listed."""
    try:
        await notices(ctx).send(user_id, kind, title, body, data)
    except RoomcastError as exc:
        log.warning("could not notify %s of %s: %s", user_id, kind, exc.message)
