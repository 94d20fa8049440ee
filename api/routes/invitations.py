"""REST routes: inviting people to a project by email, with or without an account.

The mail carries a link with a token. Accepting it, signed in with the invited address,
makes a member; someone without an account signs up with that address first (with the token
when REGISTRATION=invite). Invitations expire (INVITATION_TTL_DAYS) and a head may revoke
them; a dead link answers 410 with why (`link_used`, `link_expired`, `link_revoked`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from api.authz import require_head
from api.context import AppContext
from api.routes.people import post_office
from api.routes.projects import MemberOut, load_project, member_event, publish
from api.routing import Call, NoModel, Router
from core.errors import AlreadyInvited, AlreadyMember, InvalidState, NotFound, WrongAccount
from core.mail.templates import render
from core.models import Page, PageParams, ProjectRole
from core.store.invitations import Invitation, InvitationStatus, dead_link
from core.store.users import User, normalize_email

router = Router(tags=["invitations"])

Email = Annotated[str, StringConstraints(
    strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    role: ProjectRole = ProjectRole.MEMBER


class InvitationPage(Page[Invitation]):
    pass


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Token


class InvitationPreview(BaseModel):
    """What the link's page shows before anyone signs in."""

    project_name: str
    email: str
    role: ProjectRole
    invited_by: str | None
    status: InvitationStatus
    expires_at: datetime


class Membership(BaseModel):
    project_id: str
    role: ProjectRole
    invitation: Invitation


@router.post("/projects/{project_id}/invitations", access="head",
             body=InvitationCreate, response=Invitation,
             status=201, errors=(403, 404, 409))
async def invite(call: Call[InvitationCreate, NoModel]) -> Invitation:
    """Invite an address to the project (head): 409 `already_member` if its account is a
    member, `already_invited` while another invitation to it is pending."""
    ctx, project_id = call.ctx, call.path["project_id"]
    await require_head(ctx, project_id, call.user)
    project = await load_project(ctx, project_id)
    email = normalize_email(call.body.email)
    existing = await ctx.stores.users.by_email(email)
    if existing is not None and project.role_of(existing.id) is not None:
        raise AlreadyMember("this address belongs to a member already")
    pending = await ctx.stores.invitations.pending_for(project_id, email)
    if pending is not None:
        raise AlreadyInvited(details={"invitation_id": pending.id})
    invitation, token = await ctx.stores.invitations.create(
        project_id=project_id, email=email, role=call.body.role, invited_by=call.user.user_id,
        ttl=timedelta(days=ctx.settings.invitation_ttl_days))
    inviter = await ctx.stores.users.get(call.user.user_id)
    post = post_office(ctx)
    mail = render("invitation", inviter=inviter.name if inviter else "Someone",
                  project=project.name, role=invitation.role.value, email=email,
                  expires=f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC",
                  link=post.link("invitation", token))
    await post.post("invitation", email, mail, f"invitation-{invitation.id}")
    await publish(ctx, f"project:{project_id}", "invitation.created",
                  {"invitation": invitation.model_dump(mode="json"), "by": call.user.user_id})
    return invitation


@router.get("/projects/{project_id}/invitations", access="head",
            query=PageParams, response=InvitationPage,
            errors=(403, 404))
async def list_invitations(call: Call[NoModel, PageParams]) -> InvitationPage:
    """The project's invitations, oldest first, each with its status (head)."""
    project_id = call.path["project_id"]
    await require_head(call.ctx, project_id, call.user)
    page = await call.ctx.stores.invitations.page(project_id, call.query)
    return InvitationPage(items=page.items, total=page.total, limit=page.limit,
                          offset=page.offset)


@router.delete("/projects/{project_id}/invitations/{invitation_id}", access="head", status=204,
               errors=(403, 404, 409))
async def revoke_invitation(call: Call[NoModel, NoModel]) -> None:
    """Revoke a pending invitation (head): its link answers 410 `link_revoked` from now on.
    One that is accepted, revoked or expired already answers 409 `invalid_state`."""
    ctx, project_id = call.ctx, call.path["project_id"]
    await require_head(ctx, project_id, call.user)
    invitation = await ctx.stores.invitations.get(call.path["invitation_id"])
    if invitation is None or invitation.project_id != project_id:
        raise NotFound("invitation not found")
    revoked = await ctx.stores.invitations.revoke(invitation.id)
    if revoked is None or invitation.status != InvitationStatus.PENDING:
        raise InvalidState(f"the invitation is {invitation.status.value}",
                           details={"status": invitation.status.value})
    await publish(ctx, f"project:{project_id}", "invitation.revoked",
                  {"invitation": revoked.model_dump(mode="json"), "by": call.user.user_id})


@router.post("/invitations/preview", body=TokenIn, response=InvitationPreview, auth="none",
             errors=(400,))
async def preview_invitation(call: Call[TokenIn, NoModel]) -> InvitationPreview:
    """What an invitation link is for (any state; 400 `invalid_link` for an unknown one)."""
    ctx = call.ctx
    invitation = await ctx.stores.invitations.by_token(call.body.token)
    project = await ctx.stores.projects.get(invitation.project_id)
    inviter = await ctx.stores.users.get(invitation.invited_by)
    return InvitationPreview(
        project_name=project.name if project else "", email=invitation.email,
        role=invitation.role, invited_by=inviter.name if inviter else None,
        status=invitation.status, expires_at=invitation.expires_at)


@router.post("/invitations/accept", body=TokenIn, response=Membership, errors=(400, 403, 410))
async def accept(call: Call[TokenIn, NoModel]) -> Membership:
    """Accept an invitation, signed in with the invited address (403 `wrong_account`
    otherwise): the caller becomes a member with the invitation's role."""
    user = await call.ctx.stores.users.get(call.user.user_id)
    assert user is not None  # authenticated just now
    invitation = await accept_invitation(call.ctx, call.body.token, user)
    return Membership(project_id=invitation.project_id, role=invitation.role,
                      invitation=invitation)


async def accept_invitation(ctx: AppContext, token: str, user: User) -> Invitation:
    """Spend the invitation for `user` and make them a member (a member already keeps their
    role). WrongAccount for another address; the invitation's dead-link error if it is not
    pending any more."""
    invitation = await ctx.stores.invitations.by_token(token)
    if invitation.status != InvitationStatus.PENDING:
        raise dead_link(invitation)
    if invitation.email != user.email:
        raise WrongAccount(f"this invitation is for {invitation.email}")
    accepted = await ctx.stores.invitations.accept(token, user.id)
    project = await ctx.stores.projects.add_member(accepted.project_id, user.id,
                                                   accepted.role)
    if project is not None:
        member = next(m for m in project.members if m.user_id == user.id)
        out = MemberOut(user_id=user.id, name=user.name, email=user.email, role=member.role,
                        added_at=member.added_at)
        await member_event(ctx, project.id, "member.added", out, user.id,
                           invitation_id=accepted.id)
    return accepted
