"""The daily digest: one mail per user with the notifications of the kinds they chose
`digest` for, since their previous digest. Taken per user (so two schedulers send it once)."""

from __future__ import annotations

import html
import logging
from datetime import timedelta

from core.ids import utcnow
from core.mail.templates import render
from core.models import PageParams
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
    now = utcnow()
    since = prefs.last_digest_at or now - timedelta(days=1)
    if not await deps.stores.preferences.claim_digest(prefs.id, prefs.last_digest_at, now):
        return 0
    user = await deps.stores.users.get(prefs.id)
    if user is None or not user.active:
        return 0
    page = await deps.stores.notifications.list_for_user(prefs.id, PageParams(limit=MAX_ITEMS))
    items = [n for n in page.items if n.kind in prefs.digest_kinds and since < n.created_at]
    if not items:
        return 0
    text = "\n".join(f"- {n.title}" + (f": {n.body}" if n.body else "") for n in items)
    items_html = "".join(f"<li>{html.escape(n.title)}</li>" for n in items)
    mail = render("digest", name=user.name, count=str(len(items)), items=text,
                  items_html=items_html, link=deps.post.base_url)
    await deps.post.post("digest", user.email, mail, f"digest-{user.id}-{now:%Y%m%d%H}")
    return 1
