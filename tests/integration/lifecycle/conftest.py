"""Fixtures for the deletion tests: services on each object storage (shared with the
pipeline tests)."""

from __future__ import annotations

from tests.integration.test_people_events import server  # noqa: F401  (fixture)
from tests.integration.workers.conftest import storage_services  # noqa: F401  (fixture)
