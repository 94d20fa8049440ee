"""Scenario files: what a good one becomes, and every problem of a bad one with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from load.flow.model import Emit, Expect, Loop, Think
from load.flow.parse import load_file, load_text
from load.flow.reader import ScenarioError

ROOT = Path(__file__).resolve().parents[3]

GOOD = """\
target: {url: "http://127.0.0.1:9999"}
variables: {room: lobby}
users:
  - name: talker
    weight: 3
    flow:
      - connect: {namespace: /chat, auth: {name: "u{{ user.index }}"}, query: {v: 1}}
      - join: "{{ room }}"
      - loop:
          count: 2
          steps:
            - emit: {event: say, data: {text: hi}, ack: {within: 500ms, capture: {n: id}}}
            - think: {min: 0.1, max: 0.2}
      - expect: {event: said, match: {id: "{{ n }}"}, within: 2s}
      - reconnect
      - disconnect
phases:
  - {duration: 2, arrival_rate: 1, ramp_to: 4}
  - {duration: 3, users: 5, name: hold}
stop: {error_rate: 0.1, p99: 500ms}
"""


def test_a_good_scenario_becomes_its_model() -> None:
    scenario = load_text(GOOD)
    kind = scenario.kinds[0]
    assert (kind.name, kind.weight) == ("talker", 3.0)
    join, loop, expect = kind.steps[1], kind.steps[2], kind.steps[3]
    assert isinstance(join, Emit) and join.event == "join" and join.ack is not None
    assert isinstance(loop, Loop) and loop.count == 2
    emit, think = loop.steps
    assert isinstance(emit, Emit) and emit.ack is not None and emit.ack.within == 0.5
    assert emit.ack.capture == {"n": ("id",)}
    assert isinstance(think, Think) and (think.low, think.high) == (0.1, 0.2)
    assert isinstance(expect, Expect) and expect.answer.within == 2.0
    assert [p.model for p in scenario.phases] == ["open", "closed"]
    assert scenario.phases[0].arrivals(2) == pytest.approx(5.0)  # (1 + 4) / 2 * 2
    assert scenario.stop.p99_ms == 500.0
    assert scenario.duration == 5


BAD = """\
target: {url: "ftp://x"}
users:
  - name: a
    flow:
      - connect: {transports: [polling]}
      - emit: {event: x, data: "{{ random_int(1) }}"}
      - expect: {event: y, within: -1}
      - think: {min: 2, max: 1}
      - emitt: {event: z}
      - emit: {data: 1}
      - emit: {event: q, data: "{{ nobody }}"}
      - loop: {steps: [think: 1]}
phases:
  - {duration: 5}
  - {duration: 0, users: 2}
stop: {error_rate: 5}
colour: blue
"""


def test_every_problem_is_reported_with_its_line_at_once() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(BAD, "bad.yaml")
    problems = dict(caught.value.problems)
    assert "target.url must be http(s)://host[:port]" in problems[1]
    assert "WebSocket only" in problems[5]
    assert "random_int takes 2 argument(s)" in problems[6]
    assert "within must be a number above 0" in problems[7]
    assert "think.max must not be below think.min" in problems[8]
    assert "unknown step 'emitt'" in problems[9]
    assert "emit needs `event`" in problems[10]
    assert "unknown name 'nobody'" in problems[11]
    assert "loop needs `steps` and one of `count` or `while`" in problems[12]
    assert "one of `arrival_rate`" in problems[14]
    assert "duration must be a number above 0" in problems[15]
    assert "stop.error_rate is a fraction" in problems[16]
    assert "unknown key 'colour'" in problems[17]
    assert str(caught.value).splitlines()[0].startswith("bad.yaml:1: ")


@pytest.mark.parametrize(("text", "line", "message"), [
    ("users: [\n", 2, "not valid YAML"),
    ("", 0, "the file is empty"),
    ("users:\n  - flow: [connect]\n", 1, "the scenario needs `phases`"),
    ("users:\n  - flow: [{emit: {event: a, data: '{{ row.x }}'}}]\nphases: [{duration: 1, "
     "users: 1}]\n", 2, "no `data` file"),
])
def test_small_mistakes(text: str, line: int, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(text)
    assert any(at == line and message in what for at, what in caught.value.problems), \
        caught.value.problems


def test_a_missing_data_file_and_a_missing_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("data: {file: rows.csv}\n" + GOOD)
    with pytest.raises(ScenarioError, match=r"s.yaml:1: cannot read data file rows.csv"):
        load_file(path)
    (tmp_path / "rows.csv").write_text("name\nada\nlinus\n")
    assert [row["name"] for row in load_file(path).rows] == ["ada", "linus"]
    with pytest.raises(ScenarioError, match="cannot read it"):
        load_file(tmp_path / "absent.yaml")


def test_the_example_scenario_is_valid() -> None:
    scenario = load_file(ROOT / "examples" / "chat" / "chat.yaml")
    assert {k.name for k in scenario.kinds} == {"talker", "lurker"}
    assert len(scenario.rows) == 5
