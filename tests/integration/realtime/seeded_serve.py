"""`roomcast serve`, with users, projects, meetings and jobs loaded before it starts.

Without MONGO_URI each process has its own in-process document store, so tests that run several
processes give each the same documents from a seed file (ROOMCAST_TEST_SEED). Everything else is
the real serve path. With `--load-only` it writes the seed into the store of DATA_DIR (or
MONGO_URI) and exits, so a plain `roomcast serve` started after finds the documents there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

import orjson

import roomcast.serve as serve_module
from core.models import ProjectRole
from core.settings import Settings
from core.store.database import close_mongo, open_mongo
from core.store.jobs import JobDoc
from core.store.meetings import Meeting
from core.store.projects import Member, Project
from core.store.stores import Stores
from core.store.users import User
from roomcast.factory import Services


async def load_seed(stores: Stores, seed: dict[str, Any]) -> None:
    """Load the seed; upserted, so processes sharing one store (MONGO_URI) may all load it."""
    for user in seed.get("users", []):
        await _put(stores.users, User.model_validate(user))
    for project in seed.get("projects", []):
        # The first member is the project's head.
        members = [Member(user_id=uid, role=ProjectRole.HEAD if i == 0 else ProjectRole.MEMBER)
                   for i, uid in enumerate(project.pop("member_ids"))]
        await _put(stores.projects, Project.model_validate({**project, "members": members}))
    for meeting in seed.get("meetings", []):
        await _put(stores.meetings, Meeting.model_validate(meeting))
    for job in seed.get("jobs", []):
        await _put(stores.jobs, JobDoc.model_validate(job))


async def _put(repository: Any, item: Any) -> None:
    doc = repository._dump(item)
    await repository._c.replace_one({"_id": doc["_id"]}, doc, upsert=True)


async def load_only(settings: Settings, seed: dict[str, Any]) -> None:
    """The store made ready as `roomcast serve` makes it at its start, then the seed in it."""
    client, db = open_mongo(settings)
    try:
        stores = Stores.over(db)
        await stores.migrations().run()
        await stores.ensure_indexes()
        await load_seed(stores, seed)
    finally:
        await close_mongo(client)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--load-only", action="store_true",
                        help="write the seed into the store and exit")
    args = parser.parse_args()
    seed = orjson.loads(Path(os.environ["ROOMCAST_TEST_SEED"]).read_bytes())
    if args.load_only:
        asyncio.run(load_only(Settings(), seed))
        return
    if args.port is None:
        parser.error("--port is required unless --load-only")
    build = serve_module.build_services

    def build_seeded(settings: Settings) -> Services:
        services = build(settings)
        services.realtime.startup.insert(0, lambda: load_seed(services.ctx.stores, seed))
        return services

    serve_module.build_services = build_seeded  # type: ignore[assignment]
    raise SystemExit(serve_module.serve(Settings(), host=args.host, port=args.port))


if __name__ == "__main__":
    main()
