"""Phases, limits and stop conditions, through the Python API, against the example chat app;
and `--procs` merging what its agents measured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from load.flow.api import (
    arrivals,
    concurrent,
    connect,
    disconnect,
    emit,
    join,
    run,
    scenario,
    think,
    user,
)
from load.flow.model import StopWhen
from tests.e2e.chat_app import chat_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chat_url() -> Iterator[str]:
    with chat_app() as url:
        yield url


def test_a_closed_ramp_then_open_arrivals(chat_url: str) -> None:
    steps = [connect(auth={"name": "t{{ user.index }}"}), join("lobby"),
             emit("chat", {"room": "lobby", "text": "hi", "ts": "{{ now_ns() }}",
                           "seq": "{{ seq() }}", "from": "{{ user.id }}"},
                  ack={"match": {"ok": True}}),
             think(0.2), disconnect()]
    plan = scenario(url=chat_url, users=[user("talker", steps)], delivery=["chat"],
                    phases=[concurrent(users=2, ramp_to=4, duration=2, name="ramp"),
                            arrivals(rate=4, duration=1, name="arrive")])
    report = run(plan, slo="errors==0,lost==0", quiet=True)
    assert report["slo_ok"], report["slo"]
    ramp, arrive = report["phases"]
    assert (ramp["model"], arrive["model"]) == ("closed", "open")
    # The closed phase held 2 to 4 users, each starting over: more iterations than users.
    assert ramp["users_started"] == 4
    assert report["users"]["iterations"] > report["users"]["started"]
    assert arrive["users_started"] == 4
    assert report["model"] == "closed and open"
    assert report["events"]["chat"]["received"] > 0


def test_max_users_drops_arrivals_and_grace_cuts_the_rest_short(chat_url: str) -> None:
    plan = scenario(url=chat_url, max_users=3, grace=0.2,
                    users=[user("sleeper", [connect(auth={"name": "s"}), think(30)])],
                    phases=[arrivals(rate=10, duration=0.5)])
    report = run(plan, quiet=True)
    users = report["users"]
    assert users["started"] == 3
    assert users["dropped"] == 2
    assert users["cut_short"] == 3


def test_a_stop_condition_ends_the_run_early_with_its_reason(chat_url: str) -> None:
    refused = [connect(auth={"name": "x"}),
               emit("chat", {"room": "nowhere", "text": "x"}, ack={"match": {"ok": True}})]
    plan = scenario(url=chat_url, users=[user("refused", refused)],
                    phases=[arrivals(rate=20, duration=30)],
                    stop=StopWhen(error_rate=0.2, min_samples=10))
    report = run(plan, quiet=True)
    assert report["stopped"] is not None and report["stopped"].startswith("error rate")
    assert report["failures"][0].startswith("stopped early: error rate")
    assert report["steps"]["emit:chat"]["errors"]["mismatch"] >= 5
    # Stopped within a few seconds of 30.
    assert report["users"]["started"] < 200


def test_procs_split_the_load_and_merge_what_they_measured(chat_url: str) -> None:
    steps = [connect(auth={"name": "p{{ user.index }}"}), join("lobby"),
             emit("chat", {"room": "lobby", "text": "{{ counter('m') }}"}, ack=True),
             disconnect()]
    plan = scenario(url=chat_url, users=[user("p", steps)],
                    phases=[arrivals(rate=6, duration=1)])
    report = run(plan, procs=2, quiet=True)
    assert [a["status"] for a in report["agents"]] == ["done", "done"]
    assert [a["users_started"] for a in report["agents"]] == [3, 3]
    assert report["users"]["started"] == 6
    assert report["steps"]["emit:chat"]["count"] == 6
    assert report["steps"]["emit:chat"]["latency_ms"]["count"] == 6
    assert report["failures"] == []
