"""How scenarios count: presence owed from server-confirmed membership, job losses by offset,
duplicates and gaps by offset, replayed deliveries."""

from __future__ import annotations

from typing import Any, cast

from load.client import SioClient
from load.scenarios.base import count_delivery, fresh_offset
from load.scenarios.jobs import _count_gaps
from load.scenarios.presence import EVERYONE, JOINED, LEFT, Ledger
from load.stats import Stats


class Member:
    def __init__(self, tag: int) -> None:
        self.tag = tag
        self.connected = True
        self.rooms: dict[str, int] = {}
        self.live_since_ns = 0


def ledger_of(count: int) -> tuple[Ledger, Stats]:
    stats = Stats(0)
    clients = cast(dict[int, SioClient], {i: Member(i) for i in range(count)})
    ledger = Ledger(stats, clients)
    ledger.members.update(range(count))
    return ledger, stats


def test_each_confirmed_member_is_owed_each_change() -> None:
    ledger, stats = ledger_of(4)
    change = ledger.change(LEFT, 0, "u0", 1_000)
    ledger.leaving(0)
    change.acked = True
    assert change.owed == {1, 2, 3}
    for member, at in ((1, 3_000), (2, 5_000), (3, 9_000)):
        ledger.saw(member, LEFT, "u0", at)
    ledger.settle()
    assert ledger.owed() == 3
    assert stats.counters["delivered"] == 3
    assert stats.named[EVERYONE].max == 8.0  # the last member, 8 us after the change


def test_a_member_part_way_through_a_join_is_extra_not_delivered() -> None:
    ledger, stats = ledger_of(3)
    ledger.leaving(2)  # member 2 left and is rejoining: its join is not acked yet
    change = ledger.change(JOINED, 1, "u1", 100)
    ledger.saw(2, JOINED, "u1", 200)
    ledger.saw(0, JOINED, "u1", 300)
    assert change.owed == {0}
    assert stats.counters["delivered"] == 1
    assert stats.counters["extra"] == 1


def test_a_member_leaving_before_the_ack_is_owed_only_what_it_saw() -> None:
    ledger, _ = ledger_of(4)
    first = ledger.change(LEFT, 0, "u0", 100)
    ledger.saw(1, LEFT, "u0", 150)
    ledger.leaving(1)  # saw it, then left: still counted as delivered
    ledger.leaving(2)  # left before seeing it, and before it was acked: not owed
    first.acked = True
    ledger.leaving(3)  # left after the ack: still owed
    assert first.owed == {1, 3}


def test_losses_are_not_netted_against_extras() -> None:
    ledger, stats = ledger_of(3)
    ledger.leaving(2)
    change = ledger.change(LEFT, 0, "u0", 100)
    change.acked = True
    ledger.saw(2, LEFT, "u0", 200)  # extra
    ledger.saw(1, LEFT, "u0", 200)
    ledger.saw(1, LEFT, "u0", 250)  # duplicate
    ledger.settle()
    assert ledger.owed() == 1  # member 1 only
    assert stats.counters["delivered"] == 1
    assert (stats.counters["extra"], stats.counters["duplicates"]) == (1, 1)
    missed = ledger.change(JOINED, 0, "u0", 300)
    missed.acked = True
    ledger.settle()
    assert ledger.owed() == 2 and stats.counters["delivered"] == 1  # one lost, not hidden
    assert stats.counters["changes_not_seen_by_all"] == 1


def test_events_from_before_a_change_are_not_counted() -> None:
    ledger, stats = ledger_of(2)
    ledger.change(JOINED, 0, "u0", 1_000)
    ledger.saw(1, JOINED, "u0", 500)  # the setup join, arriving before the measured change
    assert stats.counters["delivered"] == stats.counters["extra"] == 0


def test_an_event_no_watcher_got_is_a_loss() -> None:
    stats = Stats(0)
    watchers = cast(list[SioClient], [Member(0), Member(1)])
    got = {("job:a", 0): {1, 2, 4}, ("job:a", 1): {1, 2}}
    _count_gaps(stats, got, {"job:a": watchers}, {"job:a": 4})
    assert stats.counters["gaps"] == 1 + 2  # watcher 0 missed 3, watcher 1 missed 3 and 4
    assert stats.counters["jobs:events"] == 4
    assert stats.counters["jobs:events_nobody_saw"] == 1  # offset 3


def test_offsets_drop_duplicates_and_count_gaps() -> None:
    stats = Stats(0)
    client: Any = Member(0)
    client.rooms["meeting:m"] = 5  # the join ack's offset
    assert fresh_offset(stats, client, ("meeting:m", 6))
    assert not fresh_offset(stats, client, ("meeting:m", 6))
    assert fresh_offset(stats, client, ("meeting:m", 9))
    assert fresh_offset(stats, client, None)  # no offsets (the generic contract)
    assert (stats.counters["duplicates"], stats.counters["gaps"]) == (1, 2)
    assert client.rooms["meeting:m"] == 9


def test_what_was_sent_before_a_reconnect_counts_as_replayed() -> None:
    stats = Stats(0)
    client: Any = Member(0)
    client.live_since_ns = 1_000
    count_delivery(stats, client, 900, 5_000)
    count_delivery(stats, client, 1_100, 1_300)
    assert stats.counters["delivered"] == 2
    assert stats.counters["replayed"] == 1
    assert stats.delivery.count == 1 and stats.delivery.max == 0.2
