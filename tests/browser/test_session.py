"""Signing up, staying signed in past the access token's expiry (refreshed over REST and on
the live socket, one tab refreshing for all), and signing out of every tab at once."""

from __future__ import annotations

from playwright.sync_api import Page, WebSocket, expect

from tests.browser.conftest import PASSWORD, Pages, Site, connected

# Access tokens live 10 s here (the least allowed), so the app refreshes them within the test.
SERVER_ENV = {"ACCESS_TOKEN_TTL_SECONDS": "10"}


def stored(page: Page, key: str) -> object:
    return page.evaluate(f"() => JSON.parse(localStorage.getItem('roomcast.session')).{key}")


def test_register_refresh_across_expiry_and_sign_out(pages: Pages, site: Site) -> None:
    sockets: list[WebSocket] = []
    page = pages.open("Dana", "/register")
    page.on("websocket", lambda ws: sockets.append(ws))
    page.get_by_label("Name").fill("Dana")
    page.get_by_label("Email").fill("dana@browser.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    connected(page)

    second = pages.open("Dana", "/notifications")
    second.on("websocket", lambda ws: sockets.append(ws))
    connected(second)
    first_token, first_exp = stored(page, "access_token"), stored(page, "access_exp")
    # Past the first token's expiry: the app refreshed before it and told each socket with
    # auth:refresh, so no socket was ended and reconnected, and the session was not closed
    # by two tabs presenting the same refresh token.
    page.wait_for_function(f"() => Date.now() > {first_exp} + 3000", timeout=40_000)
    assert stored(page, "access_token") != first_token
    for tab in (page, second):
        connected(tab)
        expect(tab.locator("#connection")).to_have_text("Connected")
    assert len(sockets) == 2
    assert not any(ws.is_closed() for ws in sockets)
    assert site.http.get("/api/v1/users/me", headers={
        "Authorization": f"Bearer {stored(page, 'access_token')}"}).status_code == 200

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(second.get_by_role("button", name="Sign in")).to_be_visible()
