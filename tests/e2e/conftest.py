"""The end-to-end tests start seeded servers like the realtime integration tests do."""

from tests.integration.realtime.conftest import rt_redis, seed, socks, start_server

__all__ = ["rt_redis", "seed", "socks", "start_server"]
