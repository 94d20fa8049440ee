"""Signing up, staying signed in past the access token's expiry (refreshed over REST and on
the live socket, one tab refreshing for all), and signing out of every tab at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

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

    # The confirmation mail's link opens the app's page, which confirms the address.
    confirm = pages.open("Dana", site.mailed_link("dana@browser.test", "/verify-email"))
    expect(confirm.get_by_text("dana@browser.test is confirmed")).to_be_visible()
    confirm.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(second.get_by_role("button", name="Sign in")).to_be_visible()


def two_talking(pages: Pages, site: Site, one: str, other: str) -> tuple[str, Page, Page]:
    """Two members of a project on its meeting's page; the first sends "one" and "two", which
    the other sees and the server has acknowledged (stored: the sender's box is emptied by the
    ack; a message is broadcast before it is stored, so seeing it is not enough for a crash to
    keep it). Returns the meeting's id and both pages."""
    first, second = site.person(one), site.person(other)
    project = site.call(first, "POST", "/projects", json={"name": f"{one} and {other}"})
    site.call(first, "POST", f"/projects/{project['id']}/members", json={"email": second.email})
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    meeting = site.call(first, "POST", f"/projects/{project['id']}/meetings",
                        json={"title": "Weekly", "scheduled_at": soon})
    room = f"/meetings/{meeting['id']}"
    first_page, second_page = pages.sign_in(first, room), pages.sign_in(second, room)
    box = first_page.get_by_role("textbox", name="Message")
    for text in ("one", "two"):
        box.fill(text)
        first_page.get_by_role("button", name="Send").click()
        expect(second_page.locator(".chat li", has_text=text)).to_have_count(1)
        expect(box).to_have_value("")
    return str(meeting["id"]), first_page, second_page


def back_again(site: Site, first_page: Page, second_page: Page) -> None:
    """Both pages reconnecting while the server is down, then connected to it started again."""
    for tab in (first_page, second_page):
        expect(tab.locator("#connection")).to_have_text("Reconnecting…")
    site.start_again()
    connected(second_page)
    connected(first_page)


def three_after(first_page: Page, second_page: Page) -> None:
    """The first page sends "three"; the second shows the three messages, each once."""
    first_page.get_by_role("textbox", name="Message").fill("three")
    first_page.get_by_role("button", name="Send").click()
    expect(second_page.locator(".chat li", has_text="three")).to_have_count(1)
    assert second_page.locator(".chat li p").all_inner_texts() == ["one", "two", "three"]


def test_after_a_server_crash_the_room_is_reloaded_over_rest(pages: Pages, site: Site) -> None:
    """A server that crashed saved no room history, so the rejoin with `since` answers
    `recovered: false`: the app says so and reloads the messages from REST, each once."""
    _, erin_page, finn_page = two_talking(pages, site, "Erin", "Finn")

    site.server.kill()
    back_again(site, erin_page, finn_page)
    expect(finn_page.get_by_role("status").filter(has_text="reloaded")).to_have_count(1)
    three_after(erin_page, finn_page)


def test_after_a_normal_restart_the_room_is_recovered(pages: Pages, site: Site) -> None:
    """A server stopped normally saved its rooms' history and takes it back when it starts:
    the rejoin with `since` is recovered, so nothing is reloaded and nothing is shown twice.
    The rejoin names the page's socket id before the restart (`previous`)."""
    meeting, gale_page, hugo_page = two_talking(pages, site, "Gale", "Hugo")

    frames: list[str] = []  # what Hugo's page receives from its next socket on
    sent: list[str] = []  # and what it sends on it
    hugo_page.on("websocket", lambda ws: (
        ws.on("framereceived", lambda frame: frames.append(str(frame))),
        ws.on("framesent", lambda frame: sent.append(str(frame)))))
    site.server.stop()
    back_again(site, gale_page, hugo_page)
    three_after(gale_page, hugo_page)
    # The rejoin's answer, before "three": the room's history was there to recover from.
    joined = f'"room":"meeting:{meeting}"'
    rejoined = [f for f in frames if '"recovered":' in f and joined in f]
    assert rejoined and all('"recovered":true' in f for f in rejoined), frames
    # The rejoin named the socket it had before (whose presence place it takes back on a
    # server of several processes), not the one it has now.
    now = re.findall(r'^40\{"sid":"([\w-]+)"', "\n".join(frames), re.M)
    named = [re.search(r'"previous":"([\w-]+)"', f) for f in sent if joined in f]
    assert now and named and all(m is not None and m[1] != now[0] for m in named), (sent, frames)
    expect(hugo_page.get_by_role("status").filter(has_text="reloaded")).to_have_count(0)
