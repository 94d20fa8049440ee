"""`roomcast serve` imports at start-up only what serving needs: the numeric, columnar, chart,
spreadsheet, calendar and S3 libraries of jobs and rarely used routes are imported where they
are used, so a restarted server answers its clients sooner. Checked in a fresh interpreter
that does what `serve` does before uvicorn runs (build the services and the ASGI app)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Imported by jobs and by a few routes, never needed to accept a socket or answer most requests.
NOT_AT_START = ["numpy", "pyarrow", "scipy", "matplotlib", "openpyxl", "h5py", "PIL",
                "pypdfium2", "minio", "icalendar"]

SERVE_START = """
import json, sys
from core.settings import Settings
from roomcast.factory import build_services, create_asgi
import roomcast.serve
services = build_services(Settings(_env_file=None, env="test", data_dir=sys.argv[1]))
create_asgi(services)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_serve_does_not_import_job_libraries_at_start(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SERVE_START, str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=120, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    imported = set(json.loads(done.stdout.splitlines()[-1]))
    assert "socketio" in imported  # the check ran what serve runs
    assert sorted(imported & set(NOT_AT_START)) == []


MODELS_DEFERRED = """
import importlib, json, pkgutil, sys
import pydantic
from roomcast.cli import prepare_serving
prepare_serving()
from core.settings import Settings
from roomcast.factory import build_services, create_asgi
import roomcast.serve
services = build_services(Settings(_env_file=None, env="test", data_dir=sys.argv[1]))
create_asgi(services)
for package in ("core", "api", "realtime", "workers", "roomcast"):
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        importlib.import_module(info.name)

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

ours = sorted({m for m in models(pydantic.BaseModel)
               if m.__module__.split(".")[0] in ("core", "api", "realtime", "workers")},
              key=lambda m: (m.__module__, m.__qualname__))
unbuilt = [m for m in ours if not m.__pydantic_complete__]
failed = []
for model in unbuilt:
    try:
        model.model_rebuild(force=True)
    except Exception as exc:
        failed.append(f"{model.__module__}.{model.__qualname__}: {exc!r}")
print(json.dumps({"models": len(ours), "unbuilt": len(unbuilt), "failed": failed}))
"""


def test_serve_builds_models_on_first_use_and_every_one_of_ours_can_be(tmp_path: Path) -> None:
    # A model whose deferred build fails (a forward reference it cannot resolve later) would
    # fail on its first request in production: every model of ours is built here.
    done = subprocess.run([sys.executable, "-c", MODELS_DEFERRED, str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=120, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["failed"] == []
    assert found["models"] > 100 and found["unbuilt"] > found["models"] // 2
