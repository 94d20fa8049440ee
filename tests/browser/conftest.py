"""Browser tests: a real `roomcast serve` on embedded defaults (one per module) and Debian's
Chromium driven by Playwright. Every page a test opens is screenshotted if the test fails;
every request any page makes is recorded, so a module can check none left the origin."""

from __future__ import annotations

import email
import email.policy
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.support.services import ROOT, ServerProcess, start_roomcast, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FAILURES = ROOT / "tests" / "browser" / "failures"
PASSWORD = "correct horse battery"
ADMIN_EMAIL = "admin@browser.test"
# Conditions are awaited for at most this long (a busy machine is slow, never wrong).
WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)


@dataclass
class Person:
    email: str
    name: str
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Site:
    server: ServerProcess
    http: httpx.Client
    requests: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    logs: Path | None = None

    def start_again(self) -> None:
        """Start the stopped server again on the same port and data directory: the store
        keeps everything; the room histories come back after a normal stop (`server.stop()`)
        and start empty after a crash (`server.kill()`)."""
        assert self.logs is not None
        self.server = start_roomcast(self.env, self.logs, port=self.server.port)

    @property
    def url(self) -> str:
        return self.server.url

    def person(self, name: str, *, register: bool = True) -> Person:
        email = f"{name.lower()}@browser.test"
        if register:
            made = self.http.post("/api/v1/auth/register",
                                  json={"email": email, "name": name, "password": PASSWORD})
            assert made.status_code == 201, made.text
        pair = self.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert pair.status_code == 200, pair.text
        body = pair.json()
        return Person(email, name, body["user"]["id"], body["access_token"])

    def mailed_link(self, to: str, path: str) -> str:
        """The link to `path` in the mail the server dropped for `to` (DATA_DIR/mail)."""
        assert self.logs is not None
        box = self.logs / f"data-{self.server.port}" / "mail"
        found: list[str] = []

        def arrived() -> bool:
            for eml in box.glob("*.eml"):
                mail = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
                body = mail.get_body(("plain",))
                text = body.get_content() if body is not None else ""
                if to in str(mail["To"]) and (
                        link := re.search(rf"{path}\?token=[\w.~-]+", text)):
                    found.append(link.group(0))
                    return True
            return False

        wait_until(arrived, timeout=20, what=f"a mail to {to}")
        return found[0]

    def call(self, who: Person, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, "/api/v1" + path, headers=who.headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The module's server; a module may set SERVER_ENV for settings of its own."""
    logs = tmp_path_factory.mktemp("browser")
    env = {"ROOMCAST_ADMIN_EMAIL": ADMIN_EMAIL, "ROOMCAST_ADMIN_PASSWORD": PASSWORD,
           **getattr(request.module, "SERVER_ENV", {})}
    site = Site(start_roomcast(env, logs), httpx.Client(timeout=30), env=env, logs=logs)
    site.http.base_url = httpx.URL(site.url)
    try:
        yield site
    finally:
        site.server.stop()
        site.http.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


class Pages:
    """Opens pages in named contexts (one per person, kept for the module) and remembers them
    for the failure screenshots."""

    def __init__(self, browser: Browser, site: Site) -> None:
        self.browser, self.site = browser, site
        self.contexts: dict[str, BrowserContext] = {}
        self.opened: list[tuple[str, Page]] = []
        # Uncaught script errors and Content-Security-Policy refusals: a test fails on any.
        self.errors: list[str] = []

    def context(self, name: str) -> BrowserContext:
        if name not in self.contexts:
            context = self.browser.new_context(base_url=self.site.url,
                                               viewport={"width": 1280, "height": 900})
            context.set_default_timeout(WAIT_MS)
            context.on("request", lambda request: self.site.requests.append(request.url))
            context.on("weberror", lambda error: self.errors.append(f"{name}: {error.error}"))
            context.on("console", lambda message: self._console(name, message.text))
            self.contexts[name] = context
        return self.contexts[name]

    def _console(self, name: str, text: str) -> None:
        if "Content Security Policy" in text:
            self.errors.append(f"{name}: {text}")

    def open(self, who: str, path: str = "/") -> Page:
        page = self.context(who).new_page()
        self.opened.append((who, page))
        page.goto(path)
        return page

    def sign_in(self, who: Person, path: str = "/") -> Page:
        """A page signed in as `who` (through the sign-in form the first time per context)."""
        page = self.open(who.name, path)
        if "/login" in page.url:
            page.get_by_label("Email").fill(who.email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"**{path}")
        connected(page)
        return page

    def close_pages(self) -> None:
        for _, page in self.opened:
            if not page.is_closed():
                page.close()
        self.opened.clear()

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


def connected(page: Page) -> None:
    page.locator("#connection[data-state=connected]").wait_for()


@pytest.fixture(scope="module")
def pages(browser: Browser, site: Site) -> Iterator[Pages]:
    opened = Pages(browser, site)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(autouse=True)
def screenshots_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "pages" not in request.fixturenames:
        return
    pages: Pages = request.getfixturevalue("pages")
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        for index, (who, page) in enumerate(pages.opened):
            if not page.is_closed():
                path = FAILURES / f"{request.node.name}-{index}-{who}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"screenshot: {path}")
    pages.close_pages()
    errors, pages.errors[:] = list(pages.errors), []
    assert errors == [], "the pages reported script errors or policy refusals"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.report_call = report  # type: ignore[attr-defined]
    return report


def same_origin(url: str, base: str) -> bool:
    ws = base.replace("http://", "ws://", 1)
    return url.startswith((base + "/", ws + "/", "blob:" + base, "data:"))

