"""Mail through a real SMTP server (aiosmtpd in its own process): password reset, email
verification, and an SMTP server that is down, which delays mail and never fails a request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.models import PageParams, Role
from core.store.links import LinkPurpose
from core.store.mail import MailStatus
from roomcast.factory import Services, build_services
from tests.support.domain import make_user
from tests.support.smtp import SmtpServer, smtp_server, text_of, token_in

API = "/api/v1"
PASSWORD = "correct horse battery"


@pytest.fixture
async def mailing(make_settings: Any, smtp: SmtpServer) -> AsyncIterator[httpx.AsyncClient]:
    async with _app(make_settings, smtp.url) as http:
        yield http


class _app:
    def __init__(self, make_settings: Any, smtp_url: str, **overrides: Any) -> None:
        self.services: Services = build_services(make_settings(
            smtp_url=smtp_url, scheduler_refresh_seconds=0.2, mail_retry_base_seconds=0.2,
            **overrides))

    async def __aenter__(self) -> httpx.AsyncClient:
        await self.services.start()
        transport = httpx.ASGITransport(app=create_app(self.services.ctx))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.http.services = self.services  # type: ignore[attr-defined]
        return self.http

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.services.close()


async def register(http: httpx.AsyncClient, email: str, name: str = "Ada") -> dict[str, Any]:
    response = await http.post(f"{API}/auth/register",
                               json={"email": email, "name": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(http: httpx.AsyncClient, email: str, password: str) -> int:
    response = await http.post(f"{API}/auth/login", json={"email": email, "password": password})
    return response.status_code


async def test_reset_link_works_once_and_ends_sessions(
    mailing: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    http = mailing
    await register(http, "ada@example.com")
    asked = await http.post(f"{API}/auth/password-reset", json={"email": "ADA@example.com"})
    unknown = await http.post(f"{API}/auth/password-reset", json={"email": "nobody@example.com"})
    # The same answer whether or not the address has an account.
    assert (asked.status_code, asked.json()) == (unknown.status_code, unknown.json())
    assert asked.status_code == 202
    mails = await smtp.wait_for(lambda: smtp.to("ada@example.com", "Reset"))
    assert len(mails) == 1
    assert mails[0]["From"] == "Roomcast <roomcast@localhost>"
    assert mails[0].get_body(preferencelist=("html",)) is not None
    token = token_in(mails[0])
    assert "/reset-password?token=" in text_of(mails[0])

    new = "a much better password"
    done = await http.post(f"{API}/auth/password-reset/confirm",
                           json={"token": token, "password": new})
    assert done.status_code == 204, done.text
    again = await http.post(f"{API}/auth/password-reset/confirm",
                            json={"token": token, "password": "yet another one!"})
    assert (again.status_code, again.json()["error"]["code"]) == (410, "link_used")
    assert await login(http, "ada@example.com", PASSWORD) == 401
    assert await login(http, "ada@example.com", new) == 200
    bogus = await http.post(f"{API}/auth/password-reset/confirm",
                            json={"token": "not-a-token", "password": new})
    assert (bogus.status_code, bogus.json()["error"]["code"]) == (400, "invalid_link")
    # Nothing was ever sent to the unknown address.
    assert smtp.to("nobody@example.com") == []


async def test_expired_reset_link_and_a_short_password(
    mailing: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    http = mailing
    user = await register(http, "bo@example.com", "Bo")
    services: Services = http.services  # type: ignore[attr-defined]
    token = await services.ctx.stores.links.issue(LinkPurpose.RESET, user["id"], user["email"],
                                                  timedelta(seconds=-1))
    short = await http.post(f"{API}/auth/password-reset/confirm",
                            json={"token": token, "password": "short"})
    assert short.status_code == 422
    expired = await http.post(f"{API}/auth/password-reset/confirm",
                              json={"token": token, "password": "long enough now"})
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "link_expired")
    assert await login(http, "bo@example.com", PASSWORD) == 200


async def test_verification_link_confirms_the_address(
    mailing: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    http = mailing
    user = await register(http, "cy@example.com", "Cy")
    assert user["email_verified"] is False
    mails = await smtp.wait_for(lambda: smtp.to("cy@example.com", "Confirm"))
    token = token_in(mails[0])
    verified = await http.post(f"{API}/auth/verify-email", json={"token": token})
    assert (verified.status_code, verified.json()["email_verified"]) == (200, True)
    again = await http.post(f"{API}/auth/verify-email", json={"token": token})
    assert (again.status_code, again.json()["error"]["code"]) == (410, "link_used")


async def test_smtp_down_delays_mail_and_admins_see_what_failed(
    make_settings: Any, tmp_path: Any
) -> None:
    from tests.support.services import free_port

    port = free_port()  # nothing listens there yet
    async with _app(make_settings, f"smtp://127.0.0.1:{port}", mail_max_attempts=3) as http:
        services: Services = http.services  # type: ignore[attr-defined]
        await register(http, "di@example.com", "Di")  # its verification mail cannot go out
        asked = await http.post(f"{API}/auth/password-reset", json={"email": "di@example.com"})
        assert asked.status_code == 202
        admin = await make_user(services, "Admin", role=Role.ADMIN)

        async def failed() -> list[dict[str, Any]]:
            page = await http.get(f"{API}/admin/mail", params={"status": "failed"},
                                  headers=admin.headers)
            assert page.status_code == 200, page.text
            items: list[dict[str, Any]] = page.json()["items"]
            return items

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(await failed()) < 2:
            assert loop.time() < deadline, await failed()
            await asyncio.sleep(0.1)
        gone = await failed()
        assert {m["kind"] for m in gone} == {"password_reset", "email_verification"}
        assert all(m["attempts"] == 3 and "Connect" in (m["last_error"] or "") for m in gone)
        member = await make_user(services, "Member")
        assert (await http.get(f"{API}/admin/mail", headers=member.headers)).status_code == 403

        # The server comes up; an admin sends the failed mail again and it arrives.
        with smtp_server(tmp_path, port) as smtp:
            reset = next(m for m in gone if m["kind"] == "password_reset")
            retried = await http.post(f"{API}/admin/mail/{reset['id']}/retry",
                                      headers=admin.headers)
            assert (retried.status_code, retried.json()["status"]) == (200, "queued")
            mails = await smtp.wait_for(lambda: smtp.to("di@example.com", "Reset"))
            assert len(mails) == 1
            twice = await http.post(f"{API}/admin/mail/{reset['id']}/retry",
                                    headers=admin.headers)
            assert (twice.status_code, twice.json()["error"]["code"]) == (409, "invalid_state")


async def test_a_server_that_is_down_delays_mail_until_it_is_up(
    make_settings: Any, tmp_path: Any
) -> None:
    from tests.support.services import free_port

    port = free_port()
    async with _app(make_settings, f"smtp://127.0.0.1:{port}") as http:
        services: Services = http.services  # type: ignore[attr-defined]
        await register(http, "ed@example.com", "Ed")  # answered 201 with the server down

        async def tried_and_failed() -> bool:
            page = await services.ctx.stores.mail.page(PageParams(limit=50), MailStatus.QUEUED)
            return any(m.to == "ed@example.com" and m.last_error for m in page.items)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await tried_and_failed():
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
        with smtp_server(tmp_path, port) as smtp:
            mails = await smtp.wait_for(lambda: smtp.to("ed@example.com", "Confirm"), 60)
            assert len(mails) == 1
