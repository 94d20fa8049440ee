"""Deleting a dataset removes its record changes, its charts and every object stored for
them, on local storage and on the S3 server; another dataset's stay."""

from __future__ import annotations

import httpx

from api.app import create_app
from core.models import PageParams, ProjectRole
from roomcast.factory import Services
from tests.integration.workers.conftest import Member
from tests.integration.workers.test_records import table_dataset
from tests.integration.workers.test_visualizations import make_chart
from tests.support.domain import make_user, record_events


async def test_deleting_a_dataset_leaves_nothing_of_it(storage_services: Services) -> None:
    services = storage_services
    creator = await make_user(services, "creator")
    project = await services.ctx.stores.projects.create(name="D", owner_id=creator.id)
    member = Member(creator, project.id)
    colleague = await make_user(services, "colleague")
    await services.ctx.stores.projects.add_member(project.id, colleague.id, ProjectRole.MEMBER)
    stranger = await make_user(services, "stranger")
    doomed = await table_dataset(services, project.id, creator.id, rows=200)
    kept = await table_dataset(services, f"{project.id}k", creator.id, rows=20)
    kept = await services.ctx.stores.datasets.save(kept.model_copy(update={
        "project_id": project.id}))
    transport = httpx.ASGITransport(app=create_app(services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        base, h = f"/api/v1/datasets/{doomed.id}", member.headers
        await http.patch(f"{base}/records/3", json={"values": {"n": 7}},
                         headers={**h, "If-Match": '"1"'})
        await http.post(f"{base}/records", json={"values": {"n": 8}}, headers=h)
        await http.delete(f"{base}/records/4", headers={**h, "If-Match": '"1"'})
        charts = [await make_chart(http, member, doomed.id, spec) for spec in (
            {"kind": "histogram", "x": "x"}, {"kind": "heatmap"})]
        other = await make_chart(http, member, kept.id, {"kind": "box", "y": "x"})
        keys_before = set(await services.ctx.objects.keys())
        assert len(await services.ctx.stores.records.for_dataset(doomed.id)) == 3

        for caller, status in ((stranger, 404), (colleague, 403)):
            refused = await http.delete(base, headers=caller.headers)
            assert refused.status_code == status, refused.text
        events = record_events(services)
        deleted = await http.delete(base, headers=h)
        assert deleted.status_code == 204, deleted.text

        assert (await http.get(base, headers=h)).status_code == 404
        for chart in charts:
            assert (await http.get(f"/api/v1/visualizations/{chart['id']}",
                                   headers=h)).status_code == 404
        assert (await http.get(f"/api/v1/visualizations/{other['id']}",
                               headers=h)).json()["status"] == "succeeded"
    stores = services.ctx.stores
    assert await stores.records.for_dataset(doomed.id) == []
    assert (await stores.visualizations.list_for_dataset(doomed.id, PageParams())).total == 0
    assert await stores.datasets.get(doomed.id) is None
    keys_after = set(await services.ctx.objects.keys())
    gone = keys_before - keys_after
    assert gone == {doomed.object_key, *(f"charts/{c['id']}/chart.{kind}" for c in charts
                                          for kind in ("png", "svg"))}
    assert not [k for k in keys_after if f"{doomed.id}/" in k]
    assert kept.object_key in keys_after
    assert [e[1:] for e in events.of("emit")] == [
        ("dataset.deleted", {"dataset_id": doomed.id, "by": creator.id})]
