"""The web app in a real Chromium against a real `roomcast serve`: presence, chat, typing,
recovery after going offline, uploads and analyses, notifications across tabs, deep links,
the size of a first load, and that nothing is fetched from anywhere but the server."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from PIL import Image
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Pages, Person, Site, connected, same_origin

FIRST_LOAD_BUDGET = 150 * 1024


@dataclass
class World:
    ada: Person  # head of the project
    bob: Person  # member
    carol: Person  # not a member
    project_id: str
    meeting_id: str


@pytest.fixture(scope="module")
def world(site: Site) -> World:
    ada, bob, carol = site.person("Ada"), site.person("Bob"), site.person("Carol")
    project = site.call(ada, "POST", "/projects", json={"name": "Apollo"})
    site.call(ada, "POST", f"/projects/{project['id']}/members", json={"email": bob.email})
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    meeting = site.call(ada, "POST", f"/projects/{project['id']}/meetings",
                        json={"title": "Launch review", "scheduled_at": soon})
    return World(ada, bob, carol, project["id"], meeting["id"])


def chat(page: Page) -> list[str]:
    return page.locator(".chat li p").all_inner_texts()


def send(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("textbox", name="Message")).to_have_value("")


def test_presence_chat_and_typing_between_two_members(pages: Pages, world: World) -> None:
    room = f"/meetings/{world.meeting_id}"
    ada = pages.sign_in(world.ada, room)
    here = ada.get_by_role("list", name="Here now")
    expect(here.locator("li")).to_have_count(1)

    bob = pages.sign_in(world.bob, room)
    expect(here.locator("li", has_text="Bob")).to_have_count(1)
    expect(bob.get_by_role("list", name="Here now").locator("li", has_text="Ada")).to_have_count(1)

    # Bob's second tab: still one entry, with its tab count.
    second = pages.sign_in(world.bob, room)
    expect(here.locator("li", has_text="Bob")).to_contain_text("2 tabs")
    second.close()
    expect(here.locator("li", has_text="Bob")).not_to_contain_text("tabs")

    bob.get_by_role("textbox", name="Message").press_sequentially("hel")
    expect(here.locator("li", has_text="Bob")).to_contain_text("typing")
    bob.get_by_role("textbox", name="Message").press_sequentially("lo Ada")
    bob.get_by_role("button", name="Send").click()
    expect(ada.locator(".chat li", has_text="hello Ada")).to_have_count(1)
    expect(here.locator("li", has_text="Bob")).not_to_contain_text("typing")
    expect(bob.locator(".chat li", has_text="hello Ada")).to_have_count(1)

    bob.close()
    expect(here.locator("li", has_text="Bob")).to_have_count(0)
    expect(here.locator("li", has_text="Ada")).to_have_count(1)


async def _say(url: str, token: str, room: str, texts: list[str]) -> None:
    client = socketio.AsyncClient()
    await client.connect(url, auth={"token": token}, transports=["websocket"])
    try:
        assert (await client.call("join", {"room": room}))["ok"]
        for text in texts:
            while not (ack := await client.call("message", {"room": room, "text": text}))["ok"]:
                assert ack["error"]["code"] == "rate_limited", ack
                await asyncio.sleep(ack["error"]["details"]["retry_after"])
    finally:
        await client.disconnect()


def test_history_pages_back_and_attendance(pages: Pages, site: Site, world: World) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    meeting = site.call(world.ada, "POST", f"/projects/{world.project_id}/meetings",
                        json={"title": "Long talk", "scheduled_at": soon})
    texts = [f"m{n}" for n in range(1, 56)]
    # In a thread of its own: Playwright's sync API holds this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _say(site.url, world.bob.token, f"meeting:{meeting['id']}",
                                      texts)).result(timeout=60)
    page = pages.sign_in(world.ada, f"/meetings/{meeting['id']}")
    expect(page.locator(".chat li")).to_have_count(50)
    assert chat(page)[0] == "m6"
    page.get_by_role("button", name="Load earlier messages").click()
    expect(page.locator(".chat li")).to_have_count(55)
    assert chat(page) == texts
    expect(page.get_by_role("button", name="Load earlier messages")).to_be_hidden()
    attendance = page.get_by_role("list", name="Attendance")
    expect(attendance.locator("li", has_text="Bob")).to_contain_text("1 visit")


def test_messages_missed_offline_are_shown_once_in_order(pages: Pages, world: World) -> None:
    room = f"/meetings/{world.meeting_id}"
    ada = pages.sign_in(world.ada, room)
    bob = pages.sign_in(world.bob, room)
    send(ada, "before the cut")
    expect(bob.locator(".chat li", has_text="before the cut")).to_have_count(1)

    pages.context("Bob").set_offline(True)
    expect(bob.locator("#connection")).to_have_text("Offline")
    expect(ada.get_by_role("list", name="Here now").locator("li", has_text="Bob")).to_have_count(0)
    missed = [f"missed {n}" for n in range(1, 6)]
    for text in missed:
        send(ada, text)
    # Sending while offline is refused with a readable message, not lost silently.
    bob.get_by_role("textbox", name="Message").fill("from the tunnel")
    bob.get_by_role("button", name="Send").click()
    expect(bob.get_by_role("alert")).to_contain_text("Not connected")

    pages.context("Bob").set_offline(False)
    connected(bob)
    expect(bob.locator(".chat li", has_text="missed 5")).to_have_count(1)
    shown = chat(bob)
    assert [t for t in shown if t.startswith("missed")] == missed
    assert shown.count("before the cut") == 1
    expect(bob.locator("#connection")).to_have_attribute(
        "title", re.compile(r"^Back online: \d+ missed events caught up"))


def test_board_meetings_and_members_update_live_for_the_other_member(
        pages: Pages, site: Site, world: World) -> None:
    path = f"/projects/{world.project_id}"
    ada, bob = pages.sign_in(world.ada, path), pages.sign_in(world.bob, path)
    expect(ada.get_by_role("list", name="Here now").locator("li", has_text="Bob")).to_have_count(1)

    ada.get_by_label("Task", exact=True).fill("Order the cake")
    ada.get_by_role("button", name="Add task").click()
    todo = bob.get_by_role("region", name="To do")
    expect(todo.locator(".task", has_text="Order the cake")).to_have_count(1)
    bob.get_by_label("Status of Order the cake").select_option("done")
    expect(ada.get_by_role("region", name="Done").locator(".task", has_text="Order the cake")
           ).to_have_count(1)

    ada.get_by_label("Meeting", exact=True).fill("Stand-up")
    ada.get_by_role("button", name="Schedule").click()
    meetings = bob.get_by_role("list", name="Meetings")
    expect(meetings.locator("li", has_text="Stand-up")).to_contain_text("scheduled")
    # Bob is a member, not a head: no Start button for him.
    expect(meetings.get_by_role("button", name="Start Stand-up")).to_have_count(0)
    ada.get_by_role("button", name="Start Stand-up").click()
    expect(meetings.locator("li", has_text="Stand-up")).to_contain_text("live")
    ada.get_by_role("button", name="End Stand-up").click()
    expect(meetings.locator("li", has_text="Stand-up")).to_contain_text("ended")

    site.person("Hana")
    ada.get_by_label("Add by email").fill("hana@browser.test")
    ada.get_by_role("button", name="Add member").click()
    members = bob.get_by_role("table", name="Members")
    expect(members).to_contain_text("hana@browser.test")
    ada.get_by_label("Role of Hana").select_option("head")
    expect(members.locator("tr", has_text="Hana")).to_contain_text("head")
    ada.get_by_role("button", name="Remove Hana").click()
    expect(members).not_to_contain_text("hana@browser.test")
    # A refused change is explained, not swallowed: Bob may not schedule (no form), and
    # adding an unknown address tells Ada why.
    expect(bob.get_by_role("button", name="Schedule")).to_have_count(0)
    ada.get_by_label("Add by email").fill("nobody@browser.test")
    ada.get_by_role("button", name="Add member").click()
    expect(ada.get_by_role("alert")).to_contain_text("Not found")


def test_upload_progress_dataset_and_kmeans_picture(pages: Pages, site: Site,
                                                     world: World) -> None:
    page = pages.sign_in(world.ada, f"/projects/{world.project_id}")
    rows = ["x,y,kind"] + [f"{(i % 3) * 5 + (i % 7) * 0.1},{(i % 3) * -4 + (i % 5) * 0.1},k{i % 3}"
                           for i in range(300)]
    page.get_by_label("Data file").set_input_files(
        files=[{"name": "points.csv", "mimeType": "text/csv",
                "buffer": ("\n".join(rows) + "\n").encode()}])
    page.get_by_role("button", name="Upload").click()
    job = page.get_by_role("list", name="Jobs").locator("li[data-status=succeeded]").first
    expect(job.locator("progress")).to_have_attribute("value", "100")
    job.get_by_role("button", name="Open dataset").click()
    dataset = page.get_by_role("region", name="Dataset points.csv")
    expect(dataset.get_by_role("table", name="Rows").locator("tbody tr")).to_have_count(10)
    expect(dataset.get_by_role("table", name="Column statistics")).to_contain_text("kind")
    # Another member edits the first row (Records): the open table follows.
    datasets = site.call(world.bob, "GET", f"/projects/{world.project_id}/datasets")["items"]
    row = f"/api/v1/datasets/{datasets[0]['id']}/records/0"
    etag = site.http.get(row, headers=world.bob.headers).headers["etag"]
    edited = site.http.patch(row, json={"values": {"x": 42.5}},
                             headers={**world.bob.headers, "If-Match": etag})
    assert edited.status_code == 200, edited.text
    first_row = dataset.get_by_role("table", name="Rows").locator("tbody tr").first
    expect(first_row).to_contain_text("42.5")

    dataset.get_by_label("Algorithm").select_option("kmeans")
    dataset.get_by_role("button", name="Run analysis").click()
    picture = page.get_by_role("img", name="kmeans clusters")
    expect(picture).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('img[data-picture=\"clusters.png\"]');"
        " return i && i.complete && i.naturalWidth > 0; }")

    dataset.get_by_label("Chart", exact=True).select_option("histogram")
    dataset.get_by_label("X", exact=True).select_option("x")
    dataset.get_by_role("button", name="Make chart").click()
    expect(page.get_by_role("img", name="Chart: histogram of x")).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('img[data-chart]');"
        " return i && i.complete && i.naturalWidth > 0; }")


def test_a_dataset_finished_while_the_page_reads_the_project_stays_listed(
        pages: Pages, site: Site, world: World) -> None:
    """The project's datasets read over REST before an ingestion finished, answered only after
    its live event had listed the new dataset: the answer does not take the dataset away."""
    page = pages.sign_in(world.ada, "/")
    held: list[Route] = []
    listing = re.compile(rf"/api/v1/projects/{world.project_id}/datasets\?")
    page.route(listing, lambda route: held.append(route))
    page.goto(f"/projects/{world.project_id}")
    for _ in range(400):  # the page asks once it is in the project's room
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the project page never asked for its datasets"
    before = held[0].fetch()  # the list as it is now, without the upload below
    table = "k,v\n" + "".join(f"k{i},{i}\n" for i in range(3))
    accepted = site.http.post(f"/api/v1/projects/{world.project_id}/uploads",
                              files={"file": ("late.csv", table.encode(), "text/csv")},
                              headers=world.ada.headers)
    assert accepted.status_code == 202, accepted.text
    opener = page.get_by_role("button", name="Open late.csv")
    expect(opener).to_be_visible()  # from the ingestion's live event
    assert "late.csv" not in before.text()
    held[0].fulfill(response=before)
    expect(page.get_by_role("region", name="Data")).to_have_attribute("aria-busy", "false")
    expect(opener).to_be_visible()
    page.unroute(listing)


def test_a_read_the_server_never_answers_fails_with_a_sentence_and_the_page_recovers(
        pages: Pages, world: World) -> None:
    """A REST read left unanswered ends at the request timeout (`timeout`, said as a sentence)
    instead of leaving the page waiting; once the server answers again the page loads."""
    page = pages.sign_in(world.ada, "/")
    expect(page.get_by_role("link", name="Apollo")).to_be_visible()
    # The module the app itself imported (same URL, same instance), its timeout made short.
    page.evaluate("""async () => {
        const app = document.querySelector('script[type="module"]').src;
        (await import(new URL("api.js", app).href)).setRequestTimeout(2000);
    }""")
    held: list[Route] = []
    listing = re.compile(rf"/api/v1/projects/{world.project_id}/datasets\?")
    page.route(listing, lambda route: held.append(route))
    page.get_by_role("link", name="Apollo").click()
    for _ in range(400):  # the page asks once it is in the project's room
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the project page never asked for its datasets"
    said = page.get_by_role("alert").filter(has_text="The server did not answer in 2 s: try again.")
    expect(said.first).to_be_visible()
    page.unroute(listing)  # the held request was given up by the page itself
    page.goto(f"/projects/{world.project_id}")  # a new load: the default timeout again
    expect(page.get_by_role("region", name="Data")).to_have_attribute("aria-busy", "false")
    expect(page.get_by_role("region", name="Members")).to_contain_text("Bob")
    expect(page.get_by_role("heading", name="Something went wrong")).to_have_count(0)


def test_two_members_edit_the_same_row_and_the_second_sees_the_conflict(
        pages: Pages, site: Site, world: World) -> None:
    ledger = "item,amount\n" + "".join(f"item{i},{i}\n" for i in range(5))
    accepted = site.http.post(f"/api/v1/projects/{world.project_id}/uploads",
                              files={"file": ("ledger.csv", ledger.encode(), "text/csv")},
                              headers=world.ada.headers)
    assert accepted.status_code == 202, accepted.text
    path = f"/projects/{world.project_id}"
    ada, bob = pages.sign_in(world.ada, path), pages.sign_in(world.bob, path)
    tables = []
    for page in (ada, bob):
        page.get_by_role("button", name="Open ledger.csv").click()
        dataset = page.get_by_role("region", name="Dataset ledger.csv")
        tables.append(dataset.get_by_role("table", name="Rows"))
        expect(tables[-1].locator("tbody tr")).to_have_count(5)
        dataset.get_by_role("button", name="Edit row 2").click()
    ada_rows, bob_rows = tables
    ada.get_by_label("amount of row 2").fill("20")
    bob.get_by_label("amount of row 2").fill("200")
    ada.get_by_role("button", name="Save row 2").click()
    expect(ada_rows.locator("tr[data-row='2']")).to_contain_text("20")
    expect(ada_rows.locator("tr[data-row='2']")).to_have_attribute("data-version", "2")
    # Bob edited from version 1: refused, and shown the row as Ada left it.
    bob.get_by_role("button", name="Save row 2").click()
    conflict = bob.get_by_role("alert").filter(has_text="Someone else changed this row first")
    expect(conflict).to_contain_text("Row 2 is now: item = item2, amount = 20")
    expect(bob_rows.locator("tr[data-row='2'] td").nth(1)).to_have_text("20")
    expect(ada_rows.locator("tr[data-row='2'] td").nth(1)).to_have_text("20")

    # Add a row and delete another: both tables follow.
    bob.get_by_label("New item").fill("extra")
    bob.get_by_label("New amount").fill("7")
    bob.get_by_role("button", name="Add row").click()
    bob.get_by_role("button", name="Delete row 0").click()
    for rows in tables:
        expect(rows.locator("tr[data-row='5']")).to_contain_text("extra")
        expect(rows.locator("tr[data-row='0']")).to_have_count(0)


def test_a_shared_document_appears_live_with_its_preview_and_downloads(
        pages: Pages, world: World) -> None:
    path = f"/projects/{world.project_id}"
    ada, bob = pages.sign_in(world.ada, path), pages.sign_in(world.bob, path)
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), "teal").save(picture, "PNG")
    ada.get_by_label("File to share").set_input_files(
        files=[{"name": "cover.png", "mimeType": "image/png", "buffer": picture.getvalue()}])
    ada.get_by_label("Folder").fill("art")
    ada.get_by_role("button", name="Share", exact=True).click()
    row = bob.get_by_role("table", name="Documents").locator("tr", has_text="cover.png")
    expect(row).to_contain_text("art/")
    expect(row).to_contain_text("image/png")
    expect(row.get_by_role("img", name="Preview of cover.png")).to_be_visible()
    with bob.expect_download() as started:
        row.get_by_role("button", name="Download cover.png").click()
    download = started.value
    assert download.suggested_filename == "cover.png"
    assert Path(download.path()).read_bytes() == picture.getvalue()


def test_a_notification_reaches_both_tabs_and_reading_it_clears_both(
        pages: Pages, site: Site, world: World) -> None:
    first = pages.sign_in(world.bob, "/")
    second = pages.sign_in(world.bob, "/notifications")
    site.call(world.ada, "POST", "/notifications/read-all")
    site.call(world.bob, "POST", "/notifications/read-all")
    for tab in (first, second):
        expect(tab.locator("#unread")).to_have_text("0")

    site.call(world.ada, "POST", f"/projects/{world.project_id}/tasks",
              json={"title": "Write the launch plan", "assignee_id": world.bob.id})
    for tab in (first, second):
        expect(tab.locator("#unread")).to_have_text("1")
    second.get_by_role("button", name="Mark read: ").first.click()
    for tab in (first, second):
        expect(tab.locator("#unread")).to_have_text("0")


def test_a_non_members_deep_link_shows_not_found(pages: Pages, world: World) -> None:
    page = pages.sign_in(world.carol, f"/projects/{world.project_id}")
    expect(page.get_by_role("heading", name="Project not found")).to_be_visible()


def test_an_invitation_link_signs_a_newcomer_up_into_the_project(
        pages: Pages, site: Site, world: World) -> None:
    site.call(world.ada, "POST", f"/projects/{world.project_id}/invitations",
              json={"email": "gwen@browser.test"})
    page = pages.open("Gwen", site.mailed_link("gwen@browser.test", "/invitation"))
    expect(page.get_by_role("status")).to_contain_text("invites gwen@browser.test to join Apollo")
    page.get_by_role("link", name="create an account").click()
    expect(page.get_by_label("Email")).to_have_value("gwen@browser.test")
    page.get_by_label("Name").fill("Gwen")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("link", name="Apollo").click()
    expect(page.get_by_role("heading", name="Apollo")).to_be_visible()
    expect(page.get_by_role("table", name="Members")).to_contain_text("gwen@browser.test")


def test_a_bad_reset_link_says_so(pages: Pages) -> None:
    page = pages.open("Fresh", "/reset-password?token=not-a-real-token")
    page.get_by_label("New password").fill("another good password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text("This link is not valid")


def test_first_page_load_size(pages: Pages, site: Site) -> None:
    sizes: dict[str, int] = {}
    # A context no other test used: nothing cached, a true first visit.
    page = pages.context("FirstVisit").new_page()
    pages.opened.append(("FirstVisit", page))
    page.on("requestfinished", lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert all(size > 0 for size in sizes.values()), sizes
    total = sum(sizes.values())
    print(f"first page load: {total} bytes compressed over {len(sizes)} requests")
    assert total < FIRST_LOAD_BUDGET
    assert any(url.endswith("socket.io.esm.min.js") for url in sizes)


def test_operator_page_shows_live_counts_to_admins(pages: Pages, site: Site, world: World) -> None:
    member = pages.sign_in(world.bob, "/admin")
    expect(member.get_by_role("heading", name="Not found")).to_be_visible()
    admin = pages.sign_in(site.person("Admin", register=False), "/admin")
    counts = admin.get_by_role("definition")
    # Bob's tab and this one are connected; the rate needs two reads.
    admin.wait_for_function(
        "() => Number(document.querySelector('[data-metric=Sockets]')?.textContent) >= 2")
    expect(admin.locator("[data-metric='Events in / s']")).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(counts.first).to_be_visible()
    expect(admin.get_by_role("table", name="Users")).to_contain_text("bob@browser.test")
    admin.get_by_label("New API key").fill("ci")
    admin.get_by_role("button", name="Create key").click()
    expect(admin.get_by_role("status").filter(has_text="rck_")).to_be_visible()
    expect(admin.get_by_role("table", name="API keys")).to_contain_text("ci")


def test_operator_announces_to_every_app_and_disconnects_a_user(
        pages: Pages, site: Site, world: World) -> None:
    bob = pages.sign_in(world.bob, "/")
    admin = pages.sign_in(site.person("Admin", register=False), "/admin")
    # Every process's connections, by user: Bob's open tab is among them.
    by_user = admin.get_by_role("table", name="Connections by user")
    bob_row = by_user.locator(f"tr[data-user='{world.bob.id}']")
    expect(bob_row).to_contain_text(world.bob.name)
    rooms = admin.get_by_role("table", name="Rooms")
    expect(rooms).to_contain_text(f"user:{world.bob.id}")
    expect(admin.get_by_role("table", name="Failed jobs")).to_be_visible()

    admin.get_by_label("Message to everyone").fill("Maintenance at noon")
    admin.get_by_label("Level").select_option("warning")
    admin.get_by_role("button", name="Announce").click()
    for page in (bob, admin):
        banner = page.get_by_role("region", name="Announcement")
        expect(banner).to_contain_text("Maintenance at noon")
        expect(banner).to_have_attribute("data-level", "warning")
    bob.get_by_role("button", name="Dismiss the announcement").click()
    expect(bob.get_by_role("region", name="Announcement")).to_be_hidden()

    bob_row.get_by_role("button", name=f"Disconnect {world.bob.name}").click()
    # (Every tab of Bob is closed: this one says so.)
    closed = bob.get_by_role("alert").filter(has_text="An admin closed this connection").first
    expect(closed).to_be_visible()
    # Bob's app reconnects on its own (the account is still active); the admin's stays up.
    expect(bob.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    connected(bob)
    expect(admin.locator("#connection")).to_have_attribute("data-state", "connected")


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden' && !el.labels?.length && !el.getAttribute('aria-label')
                  && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))"""


def test_operator_retries_a_failed_job(pages: Pages, site: Site, world: World) -> None:
    bad = site.http.post(f"/api/v1/projects/{world.project_id}/uploads",
                         files={"file": ("garbage.csv", bytes(range(256)) * 8, "text/csv")},
                         headers=world.ada.headers)
    assert bad.status_code == 202, bad.text
    job_id = bad.json()["job_id"]
    first = wait_for_job(site, world.ada, job_id, lambda job: job["status"] == "failed")
    admin = pages.sign_in(site.person("Admin", register=False), "/admin")
    failed = admin.get_by_role("table", name="Failed jobs")
    expect(failed).to_contain_text("invalid_file")
    failed.get_by_role("button", name=f"Retry job {job_id}").click()
    expect(admin.get_by_role("status").filter(has_text="Job ingest queued again")).to_be_visible()
    # The retried job ran again (and failed again: the file is the same).
    again = first["finished_at"]
    wait_for_job(site, world.ada, job_id,
                 lambda job: job["status"] == "failed" and job["finished_at"] != again)


def wait_for_job(site: Site, who: Person, job_id: str,
                 done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while not done(job := site.call(who, "GET", f"/jobs/{job_id}")):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def test_phone_width_keyboard_and_labels(pages: Pages, world: World) -> None:
    page = pages.sign_in(world.ada, f"/projects/{world.project_id}")
    expect(page.get_by_role("list", name="Here now").locator("li")).not_to_have_count(0)
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    # Keyboard only: a task is added with Tab and Enter.
    page.get_by_label("Task", exact=True).focus()
    page.keyboard.type("Typed with the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator(".task", has_text="Typed with the keyboard")).to_have_count(1)
    page.goto(f"/meetings/{world.meeting_id}")
    connected(page)
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390


def test_no_request_left_the_origin(site: Site) -> None:
    # Runs last in the module: every page of every test above was recorded.
    assert site.requests
    strangers = [url for url in site.requests if not same_origin(url, site.url)]
    assert strangers == []
