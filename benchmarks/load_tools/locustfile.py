"""The load-tool comparison's workload for Locust (benchmarks/load_tools.py), with
python-socketio's own client: each user connects with a name, joins its room of 10, sends
`chat` (acked) every 1/RATE seconds COUNT times, then leaves. Acks are Locust requests;
received `chat` events are counted as requests named `received`."""

from __future__ import annotations

import os
import time
from itertools import count
from typing import Any

import socketio
from locust import User, between, events, task  # noqa: F401 - between kept for readers
from locust.exception import StopUser

RATE = float(os.environ.get("CHAT_RATE", "0.5"))
COUNT = int(os.environ.get("CHAT_COUNT", "10"))
ROOM_SIZE = int(os.environ.get("CHAT_ROOM_SIZE", "10"))
numbers = count()


class ChatUser(User):
    wait_time = lambda self: 1.0 / RATE  # noqa: E731 - Locust reads an attribute

    def on_start(self) -> None:
        self.index = next(numbers)
        self.room = f"r{self.index // ROOM_SIZE}"
        self.sent = 0
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("chat", self._received)
        began = time.perf_counter()
        self.sio.connect(self.host, auth={"name": f"l{self.index}"}, transports=["websocket"])
        self._fire("connect", began)
        began = time.perf_counter()
        self.sio.call("join", self.room, timeout=10)
        self._fire("join", began)

    def _received(self, data: Any) -> None:
        events.request.fire(request_type="sio", name="received", response_time=0,
                            response_length=0, exception=None, context={})

    def _fire(self, name: str, began: float, exc: Exception | None = None) -> None:
        events.request.fire(request_type="sio", name=name,
                            response_time=(time.perf_counter() - began) * 1000,
                            response_length=0, exception=exc, context={})

    @task
    def chat(self) -> None:
        if self.sent >= COUNT:
            self.sio.disconnect()
            raise StopUser()
        self.sent += 1
        began = time.perf_counter()
        try:
            self.sio.call("chat", {"room": self.room, "text": "hi", "ts": time.time_ns()},
                          timeout=10)
        except Exception as exc:
            self._fire("emit:chat", began, exc)
            return
        self._fire("emit:chat", began)
