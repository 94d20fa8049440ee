"""Meeting stays opened together (a reconnecting crowd rejoining) are written in one journaled
insert, and each `open` returns only once its own stay is durable."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.store.attendance import AttendanceRepository
from core.store.embedded.engine import open_engine
from tests.support.embedded import embedded_database


async def test_stays_opened_together_are_one_durable_write(tmp_path: Path) -> None:
    attendance = AttendanceRepository(embedded_database(tmp_path))
    before = attendance.version()
    stays = await asyncio.gather(*(attendance.open("m1", f"u{n}", f"sid-{n}")
                                   for n in range(50)))
    assert attendance.version() == (before or 0) + 1  # one write to the collection
    assert len({stay.id for stay in stays}) == 50
    # Durable when `open` returned: the journal, replayed by a store opened afresh, has them.
    engine = open_engine(tmp_path, "roomcast", compact_bytes=1 << 26)
    await engine.close()
    await engine.close()  # the repository's opening too: the store is closed
    reopened = AttendanceRepository(embedded_database(tmp_path))
    stored = await reopened.list_for_meeting("m1")
    assert {(s.id, s.user_id, s.sid, s.left_at) for s in stored} == {
        (s.id, s.user_id, s.sid, None) for s in stays}


async def test_a_stay_opened_alone_is_closed_by_its_id(tmp_path: Path) -> None:
    attendance = AttendanceRepository(embedded_database(tmp_path))
    stay = await attendance.open("m1", "u1", "sid-1")
    await attendance.close("m1", "sid-1", stay_id=stay.id)
    [stored] = await attendance.list_for_meeting("m1")
    assert stored.id == stay.id and stored.left_at is not None
