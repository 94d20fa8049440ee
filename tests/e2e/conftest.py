"""The end-to-end tests start seeded servers like the realtime integration tests do."""

from tests.integration.realtime.conftest import seed, socks, start_server

__all__ = ["seed", "socks", "start_server"]
