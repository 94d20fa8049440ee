"""Fixtures for the document tests: the storage-parametrized services and a project member
(shared with the pipeline tests), and a `roomcast serve` of its own."""

from __future__ import annotations

from tests.integration.test_people_events import server  # noqa: F401  (fixture)
from tests.integration.workers.conftest import (  # noqa: F401  (fixtures)
    cluster,
    cluster_env,
    member,
    mongo_wire_url,
    storage_services,
)
