"""Notifying a user the way they asked: their channel for the kind (and project) decides
whether it is stored and pushed (in-app), also mailed at once (email), gathered into the
daily digest (digest: stored and pushed now, mailed with the digest), or dropped (off)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from core.mail.post import PostOffice
from core.mail.templates import render
from core.store.preferences import Channel
from core.store.stores import Stores

# Stores the notification and pushes it to the user's room; returns the stored payload. The
# REST side passes its emitter's `notify`; a worker one that stores it once under `notice_id`
# and returns None, pushing nothing, when it was stored before (a retried send).
Deliver = Callable[..., Awaitable[dict[str, Any] | None]]


def mail_key(notice_id: str) -> str:
    """The mail's id for a notice sent once under `notice_id` (32 hex characters)."""
    return hashlib.sha256(f"mail:{notice_id}".encode()).hexdigest()[:32]


class Notices:
    def __init__(self, stores: Stores, post: PostOffice, deliver: Deliver) -> None:
        self._stores = stores
        self._post = post
        self._deliver = deliver

    async def send(self, user_id: str, kind: str, title: str, body: str = "",
                   data: dict[str, Any] | None = None, *, notice_id: str | None = None,
                   ) -> dict[str, Any] | None:
        """Notify the user; None when their preferences turn this kind (or project) off, or
        when a worker's `deliver` finds it sent already under `notice_id`.

        The mail is posted before the live push, so a push that fails (Redis down) does not
        cost the mail; `notice_id` makes a retried call store and mail it once, and a worker's
        `deliver` push it once (a retry after the store pushes nothing: the notification is
        listed, at-most-once live).
        """
        data = data or {}
        prefs = await self._stores.preferences.get(user_id)
        channel = prefs.channel(kind, data.get("project_id"))
        if channel == Channel.OFF:
            return None
        if channel == Channel.EMAIL:
            await self._mail(user_id, kind, title, body,
                             None if notice_id is None else mail_key(notice_id))
        return await self._deliver(user_id, kind=kind, title=title, body=body, data=data,
                                   notice_id=notice_id)

    async def _mail(self, user_id: str, kind: str, title: str, body: str,
                    mail_id: str | None) -> None:
        user = await self._stores.users.get(user_id)
        if user is None or not user.active:
            return
        mail = render("notification", name=user.name, title=title, body=body,
                      link=self._post.base_url)
        await self._post.post(f"notification:{kind}", user.email, mail, mail_id)
