"""A scenario file against a real `roomcast serve`: users from a CSV of access tokens join a
meeting room, send messages and expect their own back, with losses counted by the room's
offsets (the `delivery` section's `seq`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from load import roomcast
from tests.support.services import ROOT, ServerProcess, start_roomcast

pytestmark = pytest.mark.slow

SCENARIO = """\
target: {{url: "{url}"}}
data: {{file: tokens.csv}}
variables: {{room: "{room}"}}
delivery: {{event: message, ts: null, seq: offset, sender: room}}
users:
  - name: member
    flow:
      - connect: {{auth: {{token: "{{{{ row.token }}}}"}}}}
      - join:
          room: "{{{{ room }}}}"
          data: {{room: "{{{{ room }}}}"}}
          ack: {{match: {{ok: true}}, capture: {{joined_at: offset}}}}
      - loop:
          count: 3
          steps:
            - set: {{mine: "{{{{ user.id }}}}-{{{{ counter('m') }}}}"}}
            - emit:
                event: message
                data: {{room: "{{{{ room }}}}", text: "hello", client_id: "{{{{ mine }}}}"}}
                ack: {{match: {{ok: true, room: "{{{{ room }}}}"}}}}
            - expect: {{event: message, match: {{client_id: "{{{{ mine }}}}"}}, within: 5s}}
      - emit: {{event: message, data: {{room: "{{{{ room }}}}", text: ""}},
                ack: {{match: {{ok: false, "error.code": validation_error}}}},
                name: refused}}
      - disconnect
phases: [{{duration: 2, users: 3, name: hold}}]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_roomcast({"SOCKET_EVENTS_PER_SECOND": "1000", "SOCKET_EVENT_BURST": "2000"},
                          tmp_path_factory.mktemp("roomcast-scenario"))
    try:
        yield proc
    finally:
        proc.stop()


def test_a_scenario_file_against_roomcast(server: ServerProcess, tmp_path: Path) -> None:
    access = roomcast.sign_in(server.url, register=3)
    _, rooms = roomcast.meeting_rooms(server.url, access, 1)
    (tmp_path / "tokens.csv").write_text("token\n" + "\n".join(access.tokens) + "\n")
    scenario = tmp_path / "roomcast.yaml"
    scenario.write_text(SCENARIO.format(url=server.url, room=rooms[0]))
    report_path = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "roomcast.cli", "load", "run", str(scenario), "--json",
         str(report_path), "--slo", "errors==0,event.message.lost==0"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    steps = report["steps"]
    iterations = report["users"]["iterations"]
    assert iterations >= 3
    assert steps["join"]["count"] == iterations
    assert steps["emit:message"]["count"] == steps["expect:message"]["count"] == 3 * iterations
    assert steps["refused"]["count"] == iterations
    message = report["events"]["message"]
    assert message["lost"] == 0 and message["out_of_order"] == 0
    assert message["received"] >= 3 * iterations
