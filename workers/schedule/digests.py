"""The daily digest: one mail per user with the notifications of the kinds they chose
`digest` for, since their previous digest.

Posted, then the period taken: the mail's id is made from where the period starts, so two
schedulers, or a worker that takes over from one that died between the two steps, post it
once (the outbox keeps the first), and only one takes the period. One that finds the digest
posted already takes the period up to that mail, leaving what came since for the next."""

from __future__ import annotations

import html
import logging
from datetime import datetime, timedelta

from core.ids import utcnow
from core.mail.templates import Rendered, render
from core.models import PageParams
from core.store.notifications import Notification
from core.store.preferences import Preferences
from workers.schedule.deps import PeopleDeps

log = logging.getLogger("roomcast.mail")
PAGE = 200
MAX_ITEMS = 100


async def send_digests(deps: PeopleDeps) -> int:
    """Post every digest owed now; return how many were posted."""
    posted, after = 0, ""
    while True:
        batch = await deps.stores.preferences.with_digests(after, PAGE)
        for prefs in batch:
            posted += await _digest(deps, prefs)
        if len(batch) < PAGE:
            return posted
        after = batch[-1].id


async def _digest(deps: PeopleDeps, prefs: Preferences) -> int:
    now, last = period_end(utcnow()), prefs.last_digest_at
    user = await deps.stores.users.get(prefs.id)
    items = await _items(deps, prefs, last or now - timedelta(days=1), now) if (
        user is not None and user.active) else []
    fresh, until = False, now
    if user is not None and items:
        # The mail carries the end of the period it covers as its time.
        posted, fresh = await deps.post.post("digest", user.email,
                                             _mail(deps, user.name, items),
                                             digest_id(user.id, last), created_at=now)
        # Posted before (by a worker that died before taking the period): it covered the
        # period up to then, and what came since waits for the next digest. Whether this run
        # posted it is the store's answer, not the times': two runs can share a millisecond.
        until = min(now, posted.created_at)
    if not await deps.stores.preferences.claim_digest(prefs.id, last, until):
        return 0
    return int(fresh)


def period_end(now: datetime) -> datetime:
    """A digest's period ends with the last whole millisecond before `now`. The store keeps
    times to the millisecond, so a notification made in `now`'s own millisecond (before this
    digest read the notifications or after) belongs to the next period, never to neither."""
    return now.replace(microsecond=now.microsecond // 1000 * 1000) - timedelta(milliseconds=1)


async def _items(deps: PeopleDeps, prefs: Preferences, since: datetime,
                 until: datetime) -> list[Notification]:
    page = await deps.stores.notifications.list_for_user(prefs.id, PageParams(limit=MAX_ITEMS))
    return [n for n in page.items
            if n.kind in prefs.digest_kinds and since < n.created_at <= until]


def _mail(deps: PeopleDeps, name: str, items: list[Notification]) -> Rendered:
    text = "\n".join(f"- {n.title}" + (f": {n.body}" if n.body else "") for n in items)
    items_html = "".join(f"<li>{html.escape(n.title)}</li>" for n in items)
    return render("digest", name=name, count=str(len(items)), items=text,
                  items_html=items_html, link=deps.post.base_url)


def digest_id(user_id: str, last: datetime | None) -> str:
    """The outbox id of the digest of the period that starts at `last` (the previous one)."""
    return f"digest-{user_id}-{'first' if last is None else f'{last:%Y%m%dT%H%M%S%f}'}"
