"""Reports of scenario runs built from measured figures: phases, gates, stop conditions, the
HTML page and `compare`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from load.flow import gates
from load.flow.compare import compare_files
from load.flow.engine import stop_reason
from load.flow.html import render
from load.flow.meter import Meter
from load.flow.model import Phase, Scenario, StopWhen, UserKind, part_of
from load.flow.summary import build, diagnosis
from load.slo import SloSyntaxError

S = 1_000_000_000
START = 1_700_000_000 * S


def plan() -> Scenario:
    return Scenario(kinds=(UserKind("u", ()),),
                    phases=(Phase(2, arrival_rate=1, name="warm"), Phase(2, users=3, name="hold")),
                    url="http://127.0.0.1:1")


def measured(step_ms: float, errors: int = 0, lost: int = 0) -> Meter:
    meter = Meter(START)
    meter.count("connect:attempts", START, 4)
    for second in range(4):
        at = START + second * S + 1
        for n in range(10):
            meter.step_done("emit:chat", step_ms * 1000 * (1 + n / 10), at)
        meter.latency("connect", 2000, at)
        meter.count("received:chat", at, 5)
        meter.latency("event:chat", 1500, at)
    for _ in range(errors):
        meter.step_error("emit:chat", "timeout", START + 3 * S)
    meter.total("lost:chat", lost)
    meter.count("disconnect:client_close", START, 3)
    meter.count("disconnect:server_disconnect", START + S, 1)
    meter.total("phase:0:users", 2)
    meter.total("phase:1:users", 3)
    return meter


def report_of(meter: Meter, slo: str = "") -> dict[str, object]:
    report = build(plan(), meter, source="s.yaml", elapsed=4.0, procs=1)
    report["slo"] = gates.evaluate(gates.parse(slo), report) if slo else []
    return report


def test_phases_steps_and_events_in_the_report() -> None:
    report = report_of(measured(10, errors=2, lost=1))
    warm, hold = report["phases"]  # type: ignore[misc]
    assert (warm["from_s"], warm["to_s"], hold["from_s"], hold["to_s"]) == (0, 2, 2, 4)
    assert (warm["steps_done"], hold["steps_done"], hold["errors"]) == (20, 20, 2)
    assert (warm["users_started"], hold["users_started"]) == (2, 3)
    step = report["steps"]["emit:chat"]  # type: ignore[index]
    assert step["count"] == 40 and step["timeouts"] == 2 and step["rate_per_s"] == 10.0
    assert report["events"]["chat"]["lost"] == 1  # type: ignore[index]
    assert report["model"] == "closed and open"
    assert report["totals"]["error_rate"] == round(2 / 42, 4)  # type: ignore[index]


@pytest.mark.parametrize(("slo", "ok"), [
    ("p99<100ms", True), ("p99<10ms", False), ("step.emit:chat.p50<15ms", True),
    ("event.chat.p99<2ms", True), ("connect.p99<1ms", False), ("errors==2", True),
    ("timeouts<2", False), ("lost==0", False), ("error_rate<0.05", True),
    ("step.nothing.p99<1s", False), ("event.chat.lost<=1", True),
    ("step.emit:chat.count>=40", True), ("step.emit:chat.rate>10", False),
    ("event.chat.received==20", True), ("event.chat.rate>=5", True),
    ("connect.failed==0", True), ("disconnects==0", False), ("connect.disconnects<=1", True),
    ("count>40", False),
])
def test_gates(slo: str, ok: bool) -> None:
    gate = report_of(measured(10, errors=2, lost=1), slo)["slo"][0]  # type: ignore[index]
    assert gate["ok"] is ok, gate


def test_gate_syntax_errors() -> None:
    with pytest.raises(SloSyntaxError, match="cannot read objective 'p99 100'"):
        gates.parse("p99 100")


def test_stop_conditions() -> None:
    meter = measured(10, errors=5)
    assert stop_reason(meter, StopWhen(error_rate=0.2)) is None
    assert stop_reason(meter, StopWhen(error_rate=0.1)) == \
        "error rate 11.1% above 10.0% (5 errors in 45 steps)"
    assert (stop_reason(meter, StopWhen(p99_ms=15)) or "").startswith("step p99 ")
    assert stop_reason(meter, StopWhen(p99_ms=15, min_samples=1000)) is None


def test_phase_arithmetic() -> None:
    ramp = Phase(10, arrival_rate=2, ramp_to=12)
    assert ramp.level(5) == 7 and ramp.arrivals(10) == 70
    # Three processes share 10 users (or a max_users of 10) as 3, 3 and 4.
    assert [part_of(10, k, 3) for k in range(3)] == [3, 3, 4]
    assert sum(part_of(7, k, 4) for k in range(4)) == 7


def test_a_target_nobody_reached_is_diagnosed() -> None:
    meter = Meter(START)
    meter.count("connect:attempts", START, 3)
    meter.count("connect:failed:refused", START, 3)
    assert diagnosis(report_of(meter)) == (  # type: ignore[arg-type]
        "target http://127.0.0.1:1: 0 of 3 connections succeeded (refused=3); nothing "
        "listens there (connection refused): is the server running?")


def test_the_html_page_is_self_contained() -> None:
    page = render(report_of(measured(10, errors=2), "p99<10ms"))  # type: ignore[arg-type]
    assert page.count("<svg") == 3  # all steps, emit:chat over time, chat delivery over time
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert "slo p99&lt;10ms: MISSED" in page
    assert "warm (open)" in page and "hold (closed)" in page


def test_compare_fails_on_a_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, after, same = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    before.write_text(json.dumps(report_of(measured(10))))
    after.write_text(json.dumps(report_of(measured(20, errors=3))))
    same.write_text(json.dumps(report_of(measured(10.5))))
    assert compare_files(before, same, 10.0, 1.0) == 0
    assert "no regression beyond 10%" in capsys.readouterr().out
    assert compare_files(before, after, 10.0, 1.0) == 1
    out = capsys.readouterr().out
    assert "emit:chat p99" in out and "emit:chat error rate 0.00% -> 6.98%" in out
    assert compare_files(before, after, 200.0, 1.0) == 1  # the errors still count
    (tmp_path / "x.json").write_text("{}")
    assert compare_files(before, tmp_path / "x.json", 10.0, 1.0) == 2


def test_the_compare_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from load.cli import main

    before, after = tmp_path / "a.json", tmp_path / "b.json"
    before.write_text(json.dumps(report_of(measured(10))))
    after.write_text(json.dumps(report_of(measured(13))))
    assert main(["compare", str(before), str(after)]) == 1  # p99 +30 %
    assert main(["compare", str(before), str(after), "--max-regression", "50"]) == 0
    assert main(["compare", str(before), str(tmp_path / "absent.json")]) == 2
    assert "REGRESSIONS (beyond 10%)" in capsys.readouterr().out
