"""REST route: what a sign-in page needs to know before anyone signs in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.routing import Call, NoModel, Router

router = Router(tags=["auth"])


class AuthOptions(BaseModel):
    registration: Literal["open", "invite", "closed"] = Field(
        description="REGISTRATION: who may sign up (open, only with an invitation, nobody)")
    oidc: bool = Field(description="whether sign-in through the OpenID Connect provider is on")


@router.get("/auth/options", response=AuthOptions, auth="none")
async def auth_options(call: Call[NoModel, NoModel]) -> AuthOptions:
    """The server's sign-up mode and sign-in options, so a client shows only what works."""
    settings = call.ctx.settings
    return AuthOptions(registration=settings.registration, oidc=settings.oidc_enabled)
