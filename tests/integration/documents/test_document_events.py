"""Documents live in the project room: a real `roomcast serve` (embedded default, previews
run in-process) and real Socket.IO clients; the events carry offsets and are recovered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PIL import Image

from tests.integration.documents.support import API, pdf, png, put, sha
from tests.integration.realtime.support import Sock
from tests.integration.test_people_events import account
from tests.support.services import ServerProcess

pytestmark = pytest.mark.slow


def stored(sock: Sock, room: str) -> list[tuple[str, dict[str, Any]]]:
    return [(event, data) for event, data in sock.events
            if isinstance(data, dict) and data.get("room") == room and "offset" in data]


async def test_documents_and_previews_reach_the_room_and_are_recovered(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        _, ada_token, ada = await account(http, "Ada")
        bob_id, bob_token, bob = await account(http, "Bob")
        project_id = (await http.post(f"{API}/projects", json={"name": "Apollo"},
                                      headers=ada)).json()["id"]
        await http.post(f"{API}/projects/{project_id}/members", json={"user_id": bob_id},
                        headers=ada)
        room = f"project:{project_id}"
        watcher = await Sock().connect(server.url, bob_token)
        try:
            assert (await watcher.join(room))["ok"]
            image = png(1200, 900)
            made = (await put(http, project_id, ada, "photo.png", image)).json()
            doc_id = made["document"]["id"]
            await put(http, project_id, ada, "photo.png", png(300, 200))
            paper = (await put(http, project_id, ada, "paper.pdf", pdf())).json()
            patched = await http.patch(f"{API}/documents/{doc_id}", json={"tags": ["cover"]},
                                       headers=ada)
            assert patched.status_code == 200

            def previews_done() -> bool:
                return sum(1 for e, d in stored(watcher, room) if e == "job.completed"
                           and d["kind"] == "preview") == 3

            await watcher.wait_for(previews_done, 60)
            thumb = await http.get(f"{API}/documents/{doc_id}/versions/1/preview", headers=bob)
            assert thumb.status_code == 200, thumb.text
            assert max(_size(thumb.content)) == 512
            page = await http.get(f"{API}/documents/{paper['document']['id']}/preview",
                                  headers=bob)
            assert _size(page.content) == (362, 512)  # A4's proportions
            original = await http.get(f"{API}/documents/{doc_id}/versions/1/content",
                                      headers=bob)
            assert sha(original.content) == sha(image)
            assert (await http.delete(f"{API}/documents/{doc_id}", headers=ada)
                    ).status_code == 204
            await watcher.wait_for(
                lambda: any(e == "document.deleted" for e, _ in stored(watcher, room)), 30)
            events = stored(watcher, room)
            documents = [(e, d.get("change")) for e, d in events if e.startswith("document.")]
            assert documents == [("document.created", None), ("document.updated", "version"),
                                 ("document.created", None), ("document.updated", "metadata"),
                                 ("document.deleted", None)]
            deleted = next(d for e, d in events if e == "document.deleted")
            assert deleted["document_id"] == doc_id
            offsets = [d["offset"] for _, d in events]
            assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)

            later = await Sock().connect(server.url, ada_token)
            try:
                replay = await later.join(room, since=0)
                assert replay["recovered"] is True
                first = offsets[0]
                assert [(e, d["offset"]) for e, d in stored(later, room) if d["offset"] >= first
                        ] == [(e, d["offset"]) for e, d in events]
            finally:
                await later.close()
        finally:
            await watcher.close()


def _size(data: bytes) -> tuple[int, int]:
    import io

    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "PNG"
        return picture.size
