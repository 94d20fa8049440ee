"""Deployment files, checked by reading them (no Docker engine runs here): compose has every
service with health checks and volumes, and sets only real settings; the Dockerfile is
multi-stage and unprivileged; the operations guide documents only real settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from redis import Redis

from core.settings import Settings
from tests.support.services import start_redis

ROOT = Path(__file__).resolve().parents[2]
SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_compose_has_the_services_with_health_checks() -> None:
    services = compose()["services"]
    assert {"mongo", "redis", "minio", "minio-init", "app", "worker"} <= set(services)
    for name in ("mongo", "redis", "minio", "app", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert "roomcast serve" in " ".join(services["app"]["command"])
    assert " ".join(services["worker"]["command"]) == "roomcast worker"
    assert "mc mb" in " ".join(services["minio-init"]["command"])


def test_images_are_pinned_to_releases() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if "image" in service and "build" not in service:
            tag = service["image"].partition(":")[2]
            assert tag and tag != "latest", f"{name}: {service['image']}"
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert services["minio-init"]["image"].startswith("minio/mc:RELEASE.")


def _worker_check(redis_url: str) -> int:
    """Run the worker's compose health check here, as Docker would run it in the container."""
    test = compose()["services"]["worker"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.run([sys.executable, *test[2:]], env=env, timeout=30).returncode


def test_worker_health_check_follows_its_redis_connection() -> None:
    # Not the image's HTTP check: a worker serves no HTTP, so that one always fails.
    assert "8000" not in " ".join(compose()["services"]["worker"]["healthcheck"]["test"])
    redis = start_redis()  # a port of its own: no other connection to it on this machine
    try:
        assert _worker_check(redis.url) == 1  # nothing holds a connection: unhealthy
        client = Redis.from_url(redis.url)
        client.ping()  # what a running worker holds while it waits for jobs
        try:
            assert _worker_check(redis.url) == 0
        finally:
            client.close()
        assert _worker_check(redis.url) == 1
    finally:
        redis.stop()


def test_app_and_worker_wait_for_healthy_services_and_the_bucket() -> None:
    services = compose()["services"]
    for name in ("app", "worker"):
        depends = services[name]["depends_on"]
        assert depends["mongo"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"


def test_compose_sets_only_real_settings() -> None:
    services = compose()["services"]
    for name in ("app", "worker"):
        env = services[name]["environment"]
        assert set(env) <= SETTING_NAMES, f"{name}: {set(env) - SETTING_NAMES}"
        assert {"MONGO_URI", "REDIS_URL", "S3_ENDPOINT", "JWT_SECRET"} <= set(env)
        assert env["ENV"] == "production"


def test_named_volumes_are_declared_and_used() -> None:
    doc = compose()
    declared = set(doc["volumes"])
    sources = {
        volume.split(":", 1)[0]
        for service in doc["services"].values()
        for volume in service.get("volumes", [])
    }
    # Bind mounts (the monitoring profile's files from ops/) are paths, not named volumes.
    binds = {source for source in sources if source.startswith((".", "/"))}
    used = sources - binds
    assert {"mongo-data", "redis-data", "minio-data"} <= used
    assert used <= declared
    assert all((ROOT / bind).exists() for bind in binds), binds


def test_dockerfile_is_multi_stage_unprivileged_and_healthchecked() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n?.*/health/live", text, re.MULTILINE)
    assert 'CMD ["roomcast", "serve", "--host", "0.0.0.0"]' in text


def test_operations_guide_documents_real_settings() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", text, re.MULTILINE))
    assert len(documented) >= 40
    assert documented <= SETTING_NAMES, documented - SETTING_NAMES
