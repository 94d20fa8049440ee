"""The web app's serving: routes, versioned assets, cache headers, the Content-Security-Policy,
compression, and the size of a first page load."""

from __future__ import annotations

import gzip
import re
import threading
from typing import Any

import brotli
import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from api.web import APP_ROUTES, StaticFile, WebApp, web_root

# The brief's budget for everything a first visit transfers (index, CSS, every module).
FIRST_LOAD_BUDGET = 150 * 1024


async def rest(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"rest": scope["path"]}, status_code=404)(scope, receive, send)


@pytest.fixture(scope="module")
def web() -> WebApp:
    return WebApp(rest, root=web_root())


@pytest.fixture
async def client(web: WebApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize("path", ["/", "/projects/5f00", "/invitation?token=x", "/reset-password",
                                  "/verify-email?token=y", "/meetings/ab12", "/admin"])
async def test_app_routes_serve_the_page_revalidated(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/assets/' in response.text


async def test_other_paths_reach_the_rest_app(client: httpx.AsyncClient) -> None:
    for path in ["/api/v1/nothing", "/health/live", "/metrics", "/unknown-page"]:
        assert (await client.get(path)).json() == {"rest": path}
    assert (await client.post("/")).json() == {"rest": "/"}


async def test_assets_are_versioned_and_long_cached(client: httpx.AsyncClient, web: WebApp) -> None:
    page = (await client.get("/")).text
    script = re.search(r'src="(/assets/[0-9a-f]{12}/app\.js)"', page)
    assert script is not None
    response = await client.get(script.group(1))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"].startswith("text/javascript")
    stale = script.group(1).replace(web.version, "000000000000")
    assert (await client.get(stale)).status_code == 404


async def test_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Host": "rooms.example:8443"})
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "connect-src 'self' ws://rooms.example:8443 wss://rooms.example:8443" in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    # No inline script in the page: every script is a file of this origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)


async def test_a_hostile_host_header_stays_out_of_the_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Host": "evil.example; script-src *"})
    assert "evil" not in response.headers["content-security-policy"]


async def test_brotli_gzip_identity_and_etag(client: httpx.AsyncClient, web: WebApp) -> None:
    br = await client.get("/", headers={"Accept-Encoding": "gzip, br"})
    assert br.headers["content-encoding"] == "br"
    gz = await client.get("/", headers={"Accept-Encoding": "gzip, br;q=0"})
    assert gz.headers["content-encoding"] == "gzip"
    plain = await client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert br.text == gz.text == plain.text == web.index.body.decode()
    again = await client.get("/", headers={"If-None-Match": br.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_app_routes_are_what_the_app_knows() -> None:
    script = (web_root() / "app.js").read_text()
    for route in APP_ROUTES - {""}:
        assert f"\\/{route}" in script or f"\\/({route}" in script, route


def test_first_page_load_is_under_budget(web: WebApp) -> None:
    """A first visit fetches the page and every asset it names (all modules are preloaded)."""
    compressed = len(web.index.br or b"") + sum(len(a.br or a.body) for a in web.assets.values())
    gzipped = len(gzip.compress(web.index.body)) + sum(
        len(a.gzip or a.body) for a in web.assets.values())
    print(f"first page load: {compressed} bytes with Brotli, {gzipped} with gzip")
    assert compressed < FIRST_LOAD_BUDGET
    assert gzipped < FIRST_LOAD_BUDGET
    assert brotli.decompress(web.index.br or b"") == web.index.body


async def test_object_storage_that_answers_itself_is_allowed_for_pictures() -> None:
    web = WebApp(rest, root=web_root(), media_origins=("https://s3.example:9000",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web),
                                 base_url="http://127.0.0.1:8000") as http:
        policy = (await http.get("/")).headers["content-security-policy"]
    assert "img-src 'self' blob: https://s3.example:9000;" in policy
    assert ("connect-src 'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000 "
            "https://s3.example:9000;") in policy


async def test_a_file_is_compressed_once_by_its_first_request_in_a_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    on_main_thread: list[bool] = []
    compress = brotli.compress

    def watched(body: bytes, **kwargs: Any) -> bytes:
        on_main_thread.append(threading.current_thread() is threading.main_thread())
        return bytes(compress(body, **kwargs))

    monkeypatch.setattr(brotli, "compress", watched)
    script = StaticFile.of("app.js", b"console.log('roomcast');\n" * 200)
    body, encoding = await script.encoded("gzip, br")
    assert (encoding, brotli.decompress(body)) == ("br", script.body)
    assert await script.encoded("br") == (body, "br")  # compressed once
    assert on_main_thread == [False]
    plain = StaticFile.of("icon.png", b"\x89PNG")
    assert await plain.encoded("br") == (b"\x89PNG", None)
