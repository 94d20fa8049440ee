"""Project membership on the embedded store, with projects of thousands of members embedded.

    .venv/bin/python benchmarks/member_lookup.py [--members 5000] [--lookups 1000] [--adds 100]
                                                 [--projects 20] [--lists 20] [--tree DIR]
                                                 [--against DIR --rounds 2] [--json out.json]

In one process, on the embedded store in a temporary directory, through `ProjectRepository`
(core/store/projects.py):

- `member_role`: a project of `--members` members; `--lookups` lookups, alternately of a
  member (spread over the whole list) and of a user who is none;
- `add_member`, `remove_member`: `--adds` members added one by one to that project, then
  removed one by one;
- `list_for_user`: `--projects` more projects of `--members` members each, a user in every
  fourth of them; `--lists` listings of that user's projects (a page of 200).

The members are written in one update per project (seeding is not measured). The report
gives, per operation, the wall time per call (median and mean) and the process's CPU time per
call. With `--tree DIR` the code measured is DIR's (e.g. the main branch: `mkdir /tmp/main &&
git archive main | tar -x -C /tmp/main`), this file's own steps unchanged. With `--against
DIR`, `--rounds` times in turn, a process measures DIR's code and one this tree's, and the
report ends with the ratios (DIR's over this tree's) of their CPU time per call, summed over
the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def timed(calls: list[Callable[[], Awaitable[Any]]]) -> Callable[[], Awaitable[dict[str, float]]]:
    async def run() -> dict[str, float]:
        walls = []
        cpu = time.process_time()
        for call in calls:
            start = time.perf_counter()
            await call()
            walls.append(time.perf_counter() - start)
        cpu = time.process_time() - cpu
        return {"calls": len(calls), "median_ms": statistics.median(walls) * 1e3,
                "mean_ms": statistics.fmean(walls) * 1e3, "cpu_ms": cpu / len(calls) * 1e3}

    return run


async def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, dict[str, float]]:
    from core.ids import utcnow
    from core.models import PageParams, ProjectRole
    from core.settings import Settings
    from core.store.database import close_mongo, open_mongo
    from core.store.projects import ProjectRepository

    settings = Settings(env="test", data_dir=data_dir, log_json=False,
                        _env_file=None)  # type: ignore[call-arg]
    client, db = open_mongo(settings)
    projects = ProjectRepository(db)
    raw = db["projects"]

    async def seeded(owner: str, users: list[str]) -> str:
        project = await projects.create(name=f"of {owner}", owner_id=owner)
        members = [{"user_id": u, "role": "member", "added_at": utcnow()} for u in users]
        await raw.update_one({"_id": project.id}, {"$push": {"members": {"$each": members}}})
        return project.id

    n = args.members
    big = await seeded("owner", [f"u{i}" for i in range(n)])
    step = max(1, n // max(1, args.lookups // 2))
    lookups = [(f"u{(i // 2 * step) % n}" if i % 2 == 0 else f"stranger{i}")
               for i in range(args.lookups)]
    roles = [await projects.member_role(big, u) for u in lookups[:2]]
    assert roles == [ProjectRole.MEMBER, None], roles
    report = {"member_role": await timed(
        [lambda u=u: projects.member_role(big, u) for u in lookups])()}
    report["add_member"] = await timed(
        [lambda i=i: projects.add_member(big, f"new{i}") for i in range(args.adds)])()
    report["remove_member"] = await timed(
        [lambda i=i: projects.remove_member(big, f"new{i}") for i in range(args.adds)])()
    assert await projects.member_role(big, "new0") is None
    for p in range(args.projects):
        await seeded(f"owner{p}", [f"v{i}" for i in range(n - 1)] + (["me"] if p % 4 == 0 else []))
    page = await projects.list_for_user("me", PageParams(limit=200))
    assert page.total == (args.projects + 3) // 4, page.total
    report["list_for_user"] = await timed(
        [lambda: projects.list_for_user("me", PageParams(limit=200))] * args.lists)()
    await close_mongo(client)
    return report


def alternate(args: argparse.Namespace, work: Path) -> None:
    """`--rounds` runs of the `--against` tree and of this one, in turn, each a process."""
    own = [a for a in sys.argv[1:] if a not in (str(args.against), "--against")]
    cpu: dict[str, dict[str, float]] = {"against": {}, "this": {}}
    for n in range(args.rounds):
        for name, tree in (("against", args.against), ("this", ROOT)):
            out = work / f"{name}-{n}.json"
            subprocess.run([sys.executable, __file__, *own, "--rounds", "0", "--tree", str(tree),
                            "--json", str(out)], check=True)
            for op, row in json.loads(out.read_text())["report"].items():
                cpu[name][op] = cpu[name].get(op, 0.0) + row["cpu_ms"]
    for op, theirs in cpu["against"].items():
        print(f"{op:14} cpu per call, {args.against} over this tree: "
              f"{theirs / cpu['this'][op]:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--adds", type=int, default=100)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--lists", type=int, default=20)
    parser.add_argument("--tree", type=Path, help="measure this tree's code instead")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--against", type=Path, help="and compare with this tree's code")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.against and args.rounds:
        with tempfile.TemporaryDirectory() as work:
            alternate(args, Path(work))
        return
    sys.path.insert(0, str((args.tree or ROOT).resolve()))
    with tempfile.TemporaryDirectory() as work:
        report = asyncio.run(measure(args, Path(work)))
    tree = str(args.tree or ROOT)
    for op, row in report.items():
        print(f"{tree}  {op:14} calls {row['calls']:5.0f}  median {row['median_ms']:8.3f} ms"
              f"  mean {row['mean_ms']:8.3f} ms  cpu {row['cpu_ms']:8.3f} ms")
    if args.json:
        args.json.write_text(json.dumps({"tree": tree, "members": args.members,
                                         "report": report}, indent=2))


if __name__ == "__main__":
    main()
