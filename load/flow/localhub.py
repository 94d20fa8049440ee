"""`--procs N` on one machine: N forked agents behind the same `Hub` the Redis controller
uses, over multiprocessing queues instead of Redis lists."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
from multiprocessing.process import BaseProcess
from typing import Any

from load.flow.agent import run_assignment


class LocalLink:
    def __init__(self, inbox: Any, out: Any) -> None:
        self.inbox, self.out = inbox, out

    async def send(self, message: dict[str, Any]) -> None:
        self.out.put(message)

    async def stop_requested(self) -> str | None:
        try:
            message = self.inbox.get_nowait()
        except queue.Empty:
            return None
        return str(message.get("stop")) if isinstance(message, dict) else None


def _agent(name: str, inbox: Any, out: Any) -> None:
    from load.runner import new_runner

    assignment = inbox.get()
    with new_runner() as runner:
        runner.run(run_assignment(assignment, LocalLink(inbox, out), name))


class LocalHub:
    def __init__(self, procs: int) -> None:
        context = mp.get_context("fork")
        self.out: Any = context.Queue()
        self.inboxes: dict[str, Any] = {}
        self.procs: dict[str, BaseProcess] = {}
        for n in range(procs):
            name = f"proc{n}"
            self.inboxes[name] = context.Queue()
            self.procs[name] = context.Process(target=_agent, daemon=True,
                                               args=(name, self.inboxes[name], self.out))
            self.procs[name].start()

    async def agents(self, want: int, within: float) -> list[str]:
        return sorted(self.procs)[:want]

    async def assign(self, agent: str, message: dict[str, Any]) -> None:
        self.inboxes[agent].put(message)

    async def receive(self, wait: float) -> list[dict[str, Any]]:
        try:
            first = await asyncio.to_thread(self.out.get, True, wait)
        except queue.Empty:
            return []
        messages = [first]
        while True:
            try:
                messages.append(self.out.get_nowait())
            except queue.Empty:
                return messages

    async def alive(self, agent: str) -> bool:
        return self.procs[agent].is_alive()

    async def request_stop(self, run: str, reason: str) -> None:
        for inbox in self.inboxes.values():
            inbox.put({"stop": reason})

    def close(self) -> None:
        for proc in self.procs.values():
            proc.join(5)
            if proc.is_alive():
                proc.kill()
