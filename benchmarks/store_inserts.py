"""CPU per stored document on the embedded store: a meeting stay and a meeting message inserted
through `TrackedCollection` (its own path for plain documents) against mongomock's `_insert`
(the same collection with that path turned off), in groups of 10 as the grouped writers store
them, alternating rounds.

    .venv/bin/python benchmarks/store_inserts.py            # 20,000 documents a round, 5 rounds
    taskset -c 0 .venv/bin/python benchmarks/store_inserts.py --rounds 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store.embedded import mongomock_collection
from core.store.embedded.mongomock_collection import TrackedCollection, new_database


def stay(now: datetime) -> dict[str, Any]:
    return {"_id": os.urandom(16).hex(), "meeting_id": os.urandom(16).hex(),
            "user_id": os.urandom(16).hex(), "sid": "iJiVn2ZNn7D_kX4xAAhp", "joined_at": now,
            "left_at": None, "_v": 1}


def message(now: datetime) -> dict[str, Any]:
    return {"_id": os.urandom(16).hex(), "meeting_id": os.urandom(16).hex(),
            "project_id": os.urandom(16).hex(), "user_id": os.urandom(16).hex(),
            "user_name": "Load", "text": "a message of a few words, as sent", "offset": 377,
            "client_id": os.urandom(16).hex(), "created_at": now, "_v": 1}


class Upstream(TrackedCollection):
    """The same collection, every insert by mongomock's own `_insert`."""

    def _insert_plain(self, data: Any) -> Any:
        return mongomock_collection._UNSURE


def per_document(kind: type[TrackedCollection], make: Any, count: int) -> float:
    collection = kind(new_database("bench"), "c")
    now = datetime.now(UTC)
    docs = [make(now) for _ in range(count)]
    began = time.process_time()
    for at in range(0, count, 10):
        collection.insert_many(docs[at:at + 10], ordered=False)
    return (time.process_time() - began) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average "
          f"{os.getloadavg()[0]:.2f}; CPU per document, median of {args.rounds} rounds")
    print("| document | mongomock's insert | the store's own | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, make in (("meeting stay", stay), ("meeting message", message)):
        theirs, ours = [], []
        for _ in range(args.rounds):
            theirs.append(per_document(Upstream, make, args.documents))
            ours.append(per_document(TrackedCollection, make, args.documents))
        before, after = statistics.median(theirs), statistics.median(ours)
        print(f"| {name} | {before:.1f} us | {after:.1f} us | {after / before:.2f}x |")


if __name__ == "__main__":
    main()
