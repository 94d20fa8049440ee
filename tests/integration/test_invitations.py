"""Invitations by email, read from a real SMTP server: the link makes a member after sign-up,
expires, can be revoked; registration modes; every bad input has its code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.ids import utcnow
from tests.integration.test_auth_oidc import FakeProvider, finish, oidc, provider, start
from tests.integration.test_mail import PASSWORD, _app, login
from tests.support.domain import make_user
from tests.support.smtp import SmtpServer, text_of, token_in

API = "/api/v1"
__all__ = ["oidc", "provider"]  # fixtures shared with the OIDC tests


@pytest.fixture
async def http(make_settings: Any, smtp: SmtpServer) -> AsyncIterator[httpx.AsyncClient]:
    async with _app(make_settings, smtp.url) as client:
        yield client


async def head_with_project(http: httpx.AsyncClient) -> tuple[Any, str]:
    services = http.services  # type: ignore[attr-defined]
    head = await make_user(services, "Hana")
    created = await http.post(f"{API}/projects", json={"name": "Apollo"}, headers=head.headers)
    return head, created.json()["id"]


async def test_invitation_link_makes_a_member_after_sign_up(
    http: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    head, project_id = await head_with_project(http)
    invited = await http.post(f"{API}/projects/{project_id}/invitations",
                              json={"email": "Newcomer@Example.com"}, headers=head.headers)
    assert invited.status_code == 201, invited.text
    assert (invited.json()["status"], invited.json()["email"]) == ("pending",
                                                                   "newcomer@example.com")
    mails = await smtp.wait_for(lambda: smtp.to("newcomer@example.com", "invites you"))
    assert "Apollo" in str(mails[0]["Subject"]) and "Hana" in str(mails[0]["Subject"])
    token = token_in(mails[0])
    assert "/invitation?token=" in text_of(mails[0])
    preview = await http.post(f"{API}/invitations/preview", json={"token": token})
    assert preview.json()["project_name"] == "Apollo"

    # No account yet: sign up with that address, sign in, accept.
    await http.post(f"{API}/auth/register", json={
        "email": "newcomer@example.com", "name": "Nia", "password": PASSWORD})
    signed = await http.post(f"{API}/auth/login", json={"email": "newcomer@example.com",
                                                          "password": PASSWORD})
    nia = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    accepted = await http.post(f"{API}/invitations/accept", json={"token": token}, headers=nia)
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["project_id"], accepted.json()["role"]) == (project_id, "member")
    project = await http.get(f"{API}/projects/{project_id}", headers=nia)
    assert (project.status_code, project.json()["role"]) == (200, "member")
    again = await http.post(f"{API}/invitations/accept", json={"token": token}, headers=nia)
    assert (again.status_code, again.json()["error"]["code"]) == (410, "link_used")
    listed = await http.get(f"{API}/projects/{project_id}/invitations", headers=head.headers)
    assert [i["status"] for i in listed.json()["items"]] == ["accepted"]


async def test_bad_invitations_have_their_codes(
    http: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    services = http.services  # type: ignore[attr-defined]
    head, project_id = await head_with_project(http)
    url = f"{API}/projects/{project_id}/invitations"
    member = await make_user(services, "Mo", email="mo@example.com")
    await http.post(f"{API}/projects/{project_id}/members", json={"user_id": member.id},
                    headers=head.headers)
    as_member = await http.post(url, json={"email": "x@example.com"}, headers=member.headers)
    assert as_member.status_code == 403
    existing = await http.post(url, json={"email": "MO@example.com"}, headers=head.headers)
    assert (existing.status_code, existing.json()["error"]["code"]) == (409, "already_member")
    for bad in ("not-an-address", "two@@example.com", "a@b", ""):
        answer = await http.post(url, json={"email": bad}, headers=head.headers)
        assert answer.status_code == 422, bad
    first = await http.post(url, json={"email": "pat@example.com"}, headers=head.headers)
    twice = await http.post(url, json={"email": "pat@example.com"}, headers=head.headers)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_invited")
    assert twice.json()["error"]["details"] == {"invitation_id": first.json()["id"]}
    token = token_in((await smtp.wait_for(lambda: smtp.to("pat@example.com")))[0])

    # Someone else's account cannot spend it.
    other = await make_user(services, "Other", email="other@example.com")
    wrong = await http.post(f"{API}/invitations/accept", json={"token": token},
                            headers=other.headers)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "wrong_account")

    # Revoked by a head: the link answers link_revoked, and revoking again is 409.
    revoke = f"{url}/{first.json()['id']}"
    assert (await http.delete(revoke, headers=head.headers)).status_code == 204
    pat = await make_user(services, "Pat", email="pat@example.com")
    revoked = await http.post(f"{API}/invitations/accept", json={"token": token},
                              headers=pat.headers)
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (410, "link_revoked")
    again = await http.delete(revoke, headers=head.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")
    assert (await http.delete(f"{url}/{'0' * 32}", headers=head.headers)).status_code == 404

    # Expired.
    late = await http.post(url, json={"email": "pat@example.com"}, headers=head.headers)
    await services.ctx.stores.invitations._c.update_one(
        {"_id": late.json()["id"]}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    late_token = token_in((await smtp.wait_for(
        lambda: [m for m in smtp.to("pat@example.com") if token_in(m) != token]))[0])
    expired = await http.post(f"{API}/invitations/accept", json={"token": late_token},
                              headers=pat.headers)
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "link_expired")
    bogus = await http.post(f"{API}/invitations/accept", json={"token": "nope"},
                            headers=pat.headers)
    assert (bogus.status_code, bogus.json()["error"]["code"]) == (400, "invalid_link")
    # Nothing half-done: Pat is not a member.
    assert (await http.get(f"{API}/projects/{project_id}", headers=pat.headers)
            ).status_code == 404


async def test_registration_modes(make_settings: Any, smtp: SmtpServer) -> None:
    body = {"email": "zed@example.com", "name": "Zed", "password": PASSWORD}
    async with _app(make_settings, smtp.url, registration="closed") as http:
        closed = await http.post(f"{API}/auth/register", json=body)
        assert (closed.status_code, closed.json()["error"]["code"]) == (403,
                                                                        "registration_closed")
    async with _app(make_settings, smtp.url, registration="invite") as http:
        services = http.services  # type: ignore[attr-defined]
        alone = await http.post(f"{API}/auth/register", json=body)
        assert (alone.status_code, alone.json()["error"]["code"]) == (403,
                                                                      "registration_closed")
        head, project_id = await head_with_project(http)
        await http.post(f"{API}/projects/{project_id}/invitations",
                        json={"email": "zed@example.com", "role": "head"}, headers=head.headers)
        token = token_in((await smtp.wait_for(lambda: smtp.to("zed@example.com")))[0])
        other = await http.post(f"{API}/auth/register", json={
            **body, "email": "zoe@example.com", "invitation_token": token})
        assert (other.status_code, other.json()["error"]["code"]) == (403, "wrong_account")
        joined = await http.post(f"{API}/auth/register", json={**body,
                                                                 "invitation_token": token})
        assert joined.status_code == 201, joined.text
        assert joined.json()["email_verified"] is True
        assert await login(http, "zed@example.com", PASSWORD) == 200
        project = await services.ctx.stores.projects.get(project_id)
        assert project.role_of(joined.json()["id"]) == "head"
        reused = await http.post(f"{API}/auth/register", json={
            **body, "email": "zed2@example.com", "invitation_token": token})
        assert reused.status_code == 410


async def test_provider_sign_in_creates_no_account_unless_sign_up_is_open(
    oidc: tuple[Any, httpx.AsyncClient], provider: FakeProvider
) -> None:
    services, http = oidc
    services.ctx.settings = services.settings.model_copy(update={"registration": "invite"})
    known = await services.ctx.stores.users.create(email="known@example.com", name="K",
                                                   password_hash=None)
    stranger = await finish(http, provider, await start(http), {
        "sub": "s-new", "email": "new@example.com", "email_verified": True})
    assert (stranger.status_code, stranger.json()["error"]["code"]) == (403,
                                                                        "registration_closed")
    assert await services.ctx.stores.users.by_email("new@example.com") is None
    member = await finish(http, provider, await start(http), {
        "sub": "s-known", "email": "known@example.com", "email_verified": True})
    assert (member.status_code, member.json()["user"]["id"]) == (200, known.id)
