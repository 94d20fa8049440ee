"""The report of a run: what the table says, what the PNG charts, and how the CLI exits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from load import cli, runner
from load import report as reporting
from load.scenarios.base import Options, WorkerContext
from load.stats import Stats
from tests.support.services import free_port


def _built(scenario: str = "fanout", target: str = "generic", **opts: Any) -> dict[str, Any]:
    stats = Stats(0)
    stats.counters.update(connect_attempts=62, not_attempted=138, published=10, listeners=5,
                          expected=50, delivered=47, gaps=3, replayed=4, reconnects=2,
                          reconnect_attempts=3)
    for n in range(62):
        stats.connected(1000.0 + n, n * 50_000_000)  # 20 a second for about 3 s
    stats.connect_failed("timeout", 1_500_000_000)
    stats.delivered(0, 2_000_000)
    options = Options(scenario=scenario, url="http://h", clients=200, duration=3.0, **opts)
    return reporting.build(options, target=target, stats=stats, clock="monotonic",
                           elapsed=3.0, server=None)


def test_connections_are_told_truthfully() -> None:
    report = _built("connect")
    conn = report["connect"]
    assert (conn["attempted"], conn["connected"], conn["failed"], conn["not_attempted"]) == (
        62, 62, 0, 138)
    assert "connections attempted 62  connected 62  failed 0  not attempted 138" in (
        reporting.table(report))


def test_losses_are_never_clamped() -> None:
    report = _built()
    assert report["delivery"]["lost"] == 50 - 48  # 47 counted and one delivered sample
    stats = Stats(0)
    stats.counters.update(expected=5, delivered=7)  # more than owed: a counting bug to see
    over = reporting.build(Options(scenario="fanout", url="http://h", clients=1, duration=1.0),
                           target="generic", stats=stats, clock="monotonic", elapsed=1.0)
    assert over["delivery"]["lost"] == -2
    assert "lost -2" in reporting.table(over)


def test_offsets_and_reconnects_show_where_the_run_has_them() -> None:
    generic = reporting.table(_built())
    assert "offset gaps" not in generic and "reconnects" not in generic
    roomcast = reporting.table(_built(target="roomcast", reconnect=True))
    assert "by offset: replayed 4  offset gaps 3" in roomcast
    assert "reconnects 2 (3 attempts)" in roomcast


def test_server_metric_changes_are_listed() -> None:
    report = _built()
    after = {f"other_{n}": float(n) for n in range(10)}
    after.update({"roomcast_events_out_total": 900.0,
                  'roomcast_http_requests_total{route="/x"}': 4.0})
    report["server_metrics"] = {"available": True, "after": after,
                                "delta": {k: v for k, v in after.items() if v}}
    lines = reporting.table(report).splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("server /metrics"))
    assert "(8 of 11 shown" in lines[head]
    assert lines[head + 1].split() == ["roomcast_events_out_total", "+900", "(now", "900)"]
    assert lines[head + 2].startswith('  roomcast_http_requests_total{route="/x"}')
    report["server_metrics"] = {"available": False}
    assert "server /metrics: not readable" in reporting.table(report)


def test_the_connect_png_charts_connections() -> None:
    latency_label, count_label, rows, key = reporting.chart(_built("connect"))
    assert (latency_label, count_label, key) == (
        "connect latency (ms)", "connections per second", "connects")
    assert sum(row["connects"] for row in rows) == 62
    assert sum(row["failures"] for row in rows) == 1
    assert all(row["p99"] > 0 for row in rows if row["connects"])
    assert reporting.chart(_built("fanout"))[3] == "deliveries"


def test_png_is_written(tmp_path: Path) -> None:
    path = tmp_path / "connect.png"
    reporting.write_png(_built("connect"), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def _raises(ctx: WorkerContext) -> None:
    ctx.stats.counters["connect_attempts"] += 1
    raise RuntimeError("the scenario broke")


def test_a_scenario_that_raises_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(runner.SCENARIOS, "connect", _raises)
    code = cli.main(["connect", "--url", f"http://127.0.0.1:{free_port()}", "--clients", "1",
                     "--duration", "0.1", "--drain", "0"])
    assert code == cli.EXIT_FAILED == 3
    out = capsys.readouterr()
    assert "run FAILED: the scenario raised RuntimeError: the scenario broke" in out.out
    assert "errors run:RuntimeError=1" in out.out


@pytest.mark.parametrize(("args", "message"), [
    (["presence", "--register", "3", "--clients", "5"], "5 clients but 3 distinct user(s)"),
    (["presence", "--email", "a@example.com", "--password", "p", "--clients", "2"],
     "2 clients but 1 distinct user(s)"),
    (["jobs", "--register", "1", "--room", "meeting:x"], "jobs uploads into a project"),
    (["recovery", "--register", "1", "--offline", "-1"], "--offline must not be negative"),
])
def test_setups_that_cannot_work_are_refused_up_front(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    # A closed port: the refusal comes before anything is asked of a server.
    code = cli.main([*args, "--url", f"http://127.0.0.1:{free_port()}"])
    assert code == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
