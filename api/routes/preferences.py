"""REST routes: how each user wants to hear about things (per notification kind: `in_app`,
`email`, `digest` or `off`), their meeting-reminder lead time, and projects they muted."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from api.authz import require_member
from api.patch_bodies import Patch
from api.routing import Call, NoModel, Router
from core.store.preferences import KINDS, Channel, Preferences
from core.store.reminders import MEETING_LEADS

router = Router(tags=["preferences"])
Lead = Literal[5, 10, 15, 30, 60, 1440]
assert set(Lead.__args__) == set(MEETING_LEADS)  # type: ignore[attr-defined]


class PreferencesOut(BaseModel):
    channels: dict[str, Channel] = Field(description="every notification kind's channel")
    reminder_minutes: int = Field(description="how long before a meeting it is reminded")
    muted_projects: list[str]

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesOut:
        return cls(channels=prefs.effective(), reminder_minutes=prefs.reminder_minutes,
                   muted_projects=prefs.muted_projects)


class PreferencesPatch(Patch):
    channels: dict[str, Channel] | None = Field(
        default=None, description="kinds to change; the others stay as they are")
    reminder_minutes: Lead | None = None

    @field_validator("channels")
    @classmethod
    def _known(cls, channels: dict[str, Channel] | None) -> dict[str, Channel] | None:
        unknown = sorted(set(channels or {}) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown notification kinds: {', '.join(unknown)} (known: "
                             f"{', '.join(KINDS)})")
        return channels


@router.get("/users/me/preferences", response=PreferencesOut)
async def get_preferences(call: Call[NoModel, NoModel]) -> PreferencesOut:
    """The caller's preferences (defaults where they changed nothing)."""
    return PreferencesOut.of(await call.ctx.stores.preferences.get(call.user.user_id))


@router.patch("/users/me/preferences", body=PreferencesPatch, response=PreferencesOut)
async def update_preferences(call: Call[PreferencesPatch, NoModel]) -> PreferencesOut:
    """Change channels per kind and the reminder lead time (5, 10, 15, 30, 60 or 1440
    minutes). A new lead time applies to every reminder not sent yet."""
    store, user_id = call.ctx.stores.preferences, call.user.user_id
    changes = call.body.changes()
    if "channels" in changes:
        current = await store.get(user_id)
        changes["channels"] = {**current.channels, **changes["channels"]}
    return PreferencesOut.of(await store.update(user_id, **changes))


@router.put("/projects/{project_id}/mute", response=PreferencesOut, errors=(404,))
async def mute_project(call: Call[NoModel, NoModel]) -> PreferencesOut:
    """Hear nothing from this project (but being added to or removed from it)."""
    project_id, store = call.path["project_id"], call.ctx.stores.preferences
    await require_member(call.ctx, project_id, call.user)
    current = await store.get(call.user.user_id)
    muted = sorted({*current.muted_projects, project_id})
    return PreferencesOut.of(await store.update(call.user.user_id, muted_projects=muted))


@router.delete("/projects/{project_id}/mute", response=PreferencesOut, errors=(404,))
async def unmute_project(call: Call[NoModel, NoModel]) -> PreferencesOut:
    """Hear from this project again."""
    project_id, store = call.path["project_id"], call.ctx.stores.preferences
    await require_member(call.ctx, project_id, call.user)
    current = await store.get(call.user.user_id)
    muted = [p for p in current.muted_projects if p != project_id]
    return PreferencesOut.of(await store.update(call.user.user_id, muted_projects=muted))
