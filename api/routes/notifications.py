"""REST routes: the caller's notifications."""

from __future__ import annotations

from pydantic import BaseModel

from api.routes.projects import publish
from api.routing import Call, NoModel, Router
from core.errors import NotFound
from core.models import Page, PageParams
from core.store.notifications import Notification

router = Router(tags=["notifications"])


class NotificationQuery(PageParams):
    unread_only: bool = False


class NotificationPage(Page[Notification]):
    pass


class UnreadCount(BaseModel):
    count: int


class MarkedRead(BaseModel):
    updated: int


@router.get("/notifications", query=NotificationQuery, response=NotificationPage)
async def list_notifications(call: Call[NoModel, NotificationQuery]) -> NotificationPage:
    """The caller's notifications, newest first; `unread_only=true` for the unread ones."""
    page = await call.ctx.stores.notifications.list_for_user(
        call.user.user_id, call.query, unread_only=call.query.unread_only
    )
    return NotificationPage(items=page.items, total=page.total, limit=page.limit,
                            offset=page.offset)


@router.get("/notifications/unread-count", response=UnreadCount)
async def unread_count(call: Call[NoModel, NoModel]) -> UnreadCount:
    """How many of the caller's notifications are unread."""
    return UnreadCount(count=await call.ctx.stores.notifications.unread_count(call.user.user_id))


@router.post("/notifications/{notification_id}/read", access="owner",
             response=Notification, errors=(404,))
async def mark_read(call: Call[NoModel, NoModel]) -> Notification:
    """Mark one of the caller's notifications read (another user's answers 404)."""
    marked = await call.ctx.stores.notifications.mark_read(
        call.user.user_id, call.path["notification_id"]
    )
    if marked is None:
        raise NotFound("notification not found")
    # Every tab of the user stays in step.
    await publish(call.ctx, f"user:{call.user.user_id}", "notification.read",
                  {"notification_id": marked.id})
    return marked


@router.post("/notifications/read-all", response=MarkedRead)
async def mark_all_read(call: Call[NoModel, NoModel]) -> MarkedRead:
    """Mark every notification of the caller read; answers how many changed."""
    updated = await call.ctx.stores.notifications.mark_all_read(call.user.user_id)
    if updated:
        await publish(call.ctx, f"user:{call.user.user_id}", "notification.read_all",
                      {"updated": updated})
    return MarkedRead(updated=updated)
