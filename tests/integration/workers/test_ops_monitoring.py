"""The shipped dashboard (ops/grafana/roomcast.json) and alert rules (ops/prometheus/alerts.yml):
every PromQL expression parses, every metric it names is exported by a running `roomcast
serve` and `roomcast worker`, and promtool accepts the rules and the Prometheus config."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.integration.workers.cluster import Cluster
from tests.support.metrics import wait_for_value
from tests.support.services import ROOT, free_port

OPS = ROOT / "ops"
DASHBOARD = OPS / "grafana" / "roomcast.json"
ALERTS = OPS / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = OPS / "prometheus" / "prometheus.yml"
ALERT_TESTS = OPS / "prometheus" / "alerts_test.yml"
# Series Prometheus makes itself, not a target.
PROMETHEUS_OWN = {"up"}
# Grafana's variables, replaced by what they stand for when a panel is drawn.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def dashboard_expressions() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            found.append((f"panel {panel['title']!r}", expr))
    return found


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def all_expressions() -> list[tuple[str, str]]:
    alerts = [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]
    return dashboard_expressions() + alerts


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_every_expression_parses_and_names_roomcast_metrics() -> None:
    expressions = all_expressions()
    assert len(expressions) > 30
    for where, expr in expressions:
        try:
            names = metric_names(expr)
        except Exception as exc:
            raise AssertionError(f"{where}: {expr!r} does not parse: {exc}") from exc
        assert names, f"{where} queries no metric"
        assert all(n.startswith("roomcast_") or n in PROMETHEUS_OWN for n in names), names


def test_the_dashboard_and_rules_are_well_formed() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    assert board["uid"] == "roomcast"
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
    titles = " ".join(panel["title"].lower() for panel in board["panels"])
    for subject in ("sockets", "rooms", "events in", "fan-out", "slow clients", "by route",
                    "errors", "jobs ended", "job duration", "failures", "queue depth",
                    "oldest", "availability"):
        assert subject in titles, subject
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    assert {"RoomcastQueueStuck", "RoomcastDeadLettersRising", "RoomcastFanoutP99High",
            "RoomcastNotReady", "RoomcastOutboxLosingEvents"} <= names
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: install it with 'apt-get install prometheus' "
                    "(Debian/Ubuntu; it ships promtool)")
    return found


def test_promtool_accepts_the_rules_and_the_config(tmp_path: Path) -> None:
    tool = promtool()
    rules = subprocess.run([tool, "check", "rules", str(ALERTS)], capture_output=True,
                           text=True, timeout=60)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in rules.stdout
    # The config names the rules where the container mounts them: point it at the file here.
    config = PROMETHEUS_CONFIG.read_text().replace("/etc/prometheus/alerts.yml", str(ALERTS))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run([tool, "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_fire_when_they_should_and_not_before() -> None:
    """ops/prometheus/alerts_test.yml: series that must fire an alert, at the time it must, with
    its labels and text, and series that must not (workers still starting jobs)."""
    tested = subprocess.run([promtool(), "test", "rules", str(ALERT_TESTS)],
                            capture_output=True, text=True, timeout=120, cwd=ALERT_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
    covered = {test["alertname"] for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
               for test in case["alert_rule_test"]}
    assert {"RoomcastQueueStuck", "RoomcastDeadLettersRising", "RoomcastFanoutP99High",
            "RoomcastNotReady", "RoomcastOutboxLosingEvents"} <= covered


@pytest.mark.slow
async def test_every_queried_metric_is_exported_by_serve_and_worker(cluster: Cluster) -> None:
    port = free_port()
    await asyncio.to_thread(cluster.start_worker, 1, WORKER_METRICS_PORT=str(port),
                            METRICS_SAMPLE_SECONDS="0.1")
    worker = await asyncio.to_thread(wait_for_value, f"http://127.0.0.1:{port}/metrics",
                                     "roomcast_ready", lambda v: v == 1)
    serve = await asyncio.to_thread(wait_for_value, f"{cluster.serve.url}/metrics",
                                    "roomcast_ready", lambda v: v == 1)
    exported = worker.names() | serve.names()
    missing = {}
    for where, expr in all_expressions():
        absent = metric_names(expr) - exported - PROMETHEUS_OWN
        if absent:
            missing[where] = sorted(absent)
    assert not missing, missing
    # Each side exports its own part: the queue from the worker, sockets from serve.
    assert "roomcast_queue_length" in worker.names()
    assert "roomcast_sockets" in serve.names()
    # roomcast/heap.py: start-up's heap is out of the cycle collector's walk.
    assert serve.value("roomcast_heap_frozen_objects") > 10_000
