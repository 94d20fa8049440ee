"""Takes docs/img/project.png from the real app: a `roomcast serve` on embedded defaults, a
project with two members present, tasks, an uploaded dataset and a k-means result.

    .venv/bin/python -m tests.browser.project_screenshot
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import (
    ADMIN_EMAIL,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    Pages,
    Site,
)
from tests.support.services import ROOT, start_roomcast

OUT = ROOT / "docs" / "img" / "project.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as logs:
        server = start_roomcast({"ROOMCAST_ADMIN_EMAIL": ADMIN_EMAIL,
                                 "ROOMCAST_ADMIN_PASSWORD": PASSWORD}, Path(logs))
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                shoot(Site(server, http))
        finally:
            server.stop()
    print(f"saved {OUT.relative_to(ROOT)}")


def shoot(site: Site) -> None:
    ada, bob = site.person("Ada"), site.person("Bob")
    project = site.call(ada, "POST", "/projects",
                        json={"name": "Apollo", "description": "Launch planning"})
    pid = project["id"]
    site.call(ada, "POST", f"/projects/{pid}/members", json={"email": bob.email})
    for title, status, who in [("Write the launch plan", "in_progress", bob.id),
                               ("Book the venue", "todo", ada.id),
                               ("Draft the press kit", "todo", None),
                               ("Pick a date", "done", ada.id)]:
        site.call(ada, "POST", f"/projects/{pid}/tasks",
                  json={"title": title, "status": status, "assignee_id": who,
                        "priority": "high" if status == "in_progress" else "medium"})
    site.http.post(f"/api/v1/projects/{pid}/documents", headers=ada.headers,
                   params={"folder": "plans"},
                   files={"file": ("Launch plan.txt", b"Launch plan, first draft\n", "text/plain")})
    rows = ["x,y"] + [f"{(i % 3) * 5 + (i % 7) * 0.3},{(i % 3) * -4 + (i % 5) * 0.3}"
                      for i in range(300)]
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = Pages(browser, site)
        try:
            pages.sign_in(bob, f"/projects/{pid}")
            page = pages.sign_in(ada, f"/projects/{pid}")
            page.get_by_label("Data file").set_input_files(files=[{
                "name": "points.csv", "mimeType": "text/csv",
                "buffer": ("\n".join(rows) + "\n").encode()}])
            page.get_by_role("button", name="Upload").click()
            job = page.get_by_role("list", name="Jobs").locator("li[data-status=succeeded]")
            job.get_by_role("button", name="Open dataset").click()
            page.get_by_label("Algorithm").select_option("kmeans")
            page.get_by_role("button", name="Run analysis").click()
            page.wait_for_function(
                "() => { const i = document.querySelector('img[data-picture]');"
                " return i && i.complete && i.naturalWidth > 0; }")
            expect(page.get_by_role("list", name="Here now").locator("li")).to_have_count(2)
            page.evaluate("() => document.getElementById('toasts').replaceChildren()")
            OUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT), full_page=True)
        finally:
            pages.close()
            browser.close()


if __name__ == "__main__":
    main()
