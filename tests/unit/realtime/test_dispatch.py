"""The socket edge turns every outcome into an ack: a bug, a bad payload, a flood."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from core.revocations import MemoryRevocations
from core.settings import Settings
from core.store.database import open_mongo
from core.store.errors import translated
from core.store.stores import Stores
from core.tokens import TokenService
from realtime.contract import RefreshIn
from realtime.limits import EventBucket
from realtime.server import build_realtime
from realtime.session import Session


@pytest.fixture
def dispatch(tmp_path: Any) -> Any:
    settings = Settings(env="test", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    _, db = open_mongo(settings)
    realtime = build_realtime(settings, stores=Stores.over(db), tokens=TokenService(settings),
                              revocations=MemoryRevocations(), redis=None)
    assert realtime.hub is not None
    realtime.hub.sessions["s1"] = Session(sid="s1", user_id="u1", name="Ada", jti="j", exp=0,
                                          bucket=EventBucket(1000, 1000))
    handler = realtime.sio.handlers["/"]["*"]
    connections = handler.__self__

    async def boom(session: Session, data: Any) -> dict[str, Any]:
        raise RuntimeError("a bug")

    async def no_store(session: Session, data: Any) -> dict[str, Any]:
        with translated():  # as every store call is: core.store.collection
            raise ServerSelectionTimeoutError("no servers found")

    async def duplicate(session: Session, data: Any) -> dict[str, Any]:
        with translated():
            raise DuplicateKeyError("E11000 duplicate key error")

    connections._table["boom"] = (RefreshIn, boom)
    connections._table["no_store"] = (RefreshIn, no_store)
    connections._table["duplicate"] = (RefreshIn, duplicate)
    return handler


async def test_handler_exception_is_an_internal_ack(dispatch: Any) -> None:
    ack = await dispatch("boom", "s1", {"token": "x"})
    assert ack == {"ok": False, "error": {"code": "internal", "message": "internal error"}}


async def test_a_store_failure_is_service_unavailable(dispatch: Any) -> None:
    ack = await dispatch("no_store", "s1", {"token": "x"})
    assert ack == {"ok": False, "error": {"code": "service_unavailable",
                                          "message": "the document store cannot be reached"}}


async def test_a_refused_store_write_is_service_unavailable_without_its_details(
    dispatch: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    ack = await dispatch("duplicate", "s1", {"token": "x"})
    assert ack == {"ok": False, "error": {"code": "service_unavailable",
                                          "message": "the document store cannot be reached"}}
    logged = [r for r in caplog.records if r.message == "the document store failed"]
    assert logged and "E11000" in str(logged[0].exc_info[1])  # the log keeps the details


async def test_payload_shapes_are_validated(dispatch: Any) -> None:
    for payload in (None, "text", [1], {"token": ""}, {"token": "x", "more": 1}):
        ack = await dispatch("auth:refresh", "s1", payload)
        assert ack["error"]["code"] == "validation_error", payload
    two_args = await dispatch("auth:refresh", "s1", {"token": "x"}, {"token": "y"})
    assert two_args["error"]["code"] == "validation_error"


async def test_unknown_socket_and_unknown_event(dispatch: Any) -> None:
    assert (await dispatch("join", "nobody", {}))["error"]["code"] == "unauthorized"
    unknown = await dispatch("fly", "s1", {})
    assert unknown["error"]["code"] == "unknown_event"
    assert "join" in unknown["error"]["details"]["events"]
