"""A test framework on the public SDK that records everything it receives, and helpers to
read a task's sandbox through the agent's HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

from corral.resources import Resources, scalars
from corral.scheduler_client import Scheduler, SchedulerDriver, command_task
from corral.testing import LocalCluster, http_json
from corral.wire.common import Capability, FrameworkInfo
from corral.wire.scheduler import Failure, Offer
from corral.wire.tasks import TaskInfo, TaskStatus


class Recorder(Scheduler):
    def __init__(self) -> None:
        self.offer_queue: asyncio.Queue[Offer] = asyncio.Queue()
        self.updates: list[TaskStatus] = []
        self.rescinded: list[str] = []
        self.failures: list[Failure] = []
        self.errors: list[str] = []
        self.messages: list[bytes] = []
        self.framework_ids: list[str] = []
        self._changed = asyncio.Event()

    def _poke(self) -> None:
        self._changed.set()

    def subscribed(self, driver: SchedulerDriver, framework_id: str) -> None:
        self.framework_ids.append(framework_id)
        self._poke()

    def offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for o in offers:
            self.offer_queue.put_nowait(o)
        self._poke()

    def rescind(self, driver: SchedulerDriver, offer_id: str) -> None:
        self.rescinded.append(offer_id)
        self._poke()

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.updates.append(status)
        self._poke()

    def failure(self, driver: SchedulerDriver, failure: Failure) -> None:
        self.failures.append(failure)
        self._poke()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self.errors.append(message)
        self._poke()

    def message(
        self, driver: SchedulerDriver, agent_id: str, executor_id: str, data: bytes
    ) -> None:
        self.messages.append(data)
        self._poke()

    async def wait_for(self, predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
        async def loop() -> Any:
            while True:
                value = predicate()
                if value:
                    return value
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {what}; updates: "
                f"{[(u.task_id.value, u.state, u.message) for u in self.updates]}"
            ) from None

    async def next_offer(self, timeout: float = 15.0) -> Offer:
        try:
            return await asyncio.wait_for(self.offer_queue.get(), timeout)
        except TimeoutError:
            raise AssertionError("no offer arrived") from None

    def drain_offers(self) -> list[Offer]:
        out = []
        while not self.offer_queue.empty():
            out.append(self.offer_queue.get_nowait())
        return out

    def states(self, task_id: str) -> list[str]:
        return [u.state for u in self.updates if u.task_id.value == task_id]

    async def wait_state(self, task_id: str, state: str, timeout: float = 15.0) -> TaskStatus:
        def found() -> TaskStatus | None:
            for u in self.updates:
                if u.task_id.value == task_id and u.state == state:
                    return u
            return None

        result: TaskStatus = await self.wait_for(found, timeout, f"{task_id} {state}")
        return result


def framework_info(name: str = "test", failover_timeout: float = 0.0, **kw: Any) -> FrameworkInfo:
    return FrameworkInfo(
        user=getpass.getuser(),
        name=name,
        failover_timeout=failover_timeout,
        capabilities=[Capability(type=c) for c in kw.pop("capabilities", ["PARTITION_AWARE"])],
        **kw,
    )


@contextlib.asynccontextmanager
async def connected(
    master: str, rec: Recorder | None = None, *, teardown: bool = True, **kw: Any
) -> AsyncIterator[tuple[SchedulerDriver, Recorder]]:
    """A subscribed driver; torn down (or just disconnected) on exit."""
    rec = rec or Recorder()
    implicit = kw.pop("implicit_acknowledgements", True)
    driver = SchedulerDriver(master, framework_info(**kw), rec, implicit_acknowledgements=implicit)
    runner = asyncio.get_running_loop().create_task(driver.run())
    try:
        await asyncio.wait_for(driver.connected.wait(), 15)
        yield driver, rec
    finally:
        await driver.stop(failover=not teardown)
        try:
            await asyncio.wait_for(runner, 10)
        except (TimeoutError, Exception):
            runner.cancel()


def task(
    task_id: str, offer: Offer, command: str, res: Resources | None = None, **kw: Any
) -> TaskInfo:
    return command_task(
        task_id, task_id, offer.agent_id.value, command, res or scalars(cpus=0.1, mem=32), **kw
    )


def sandbox_of(cluster: LocalCluster, task_id: str, agent: int = 0) -> str:
    """The sandbox directory of a task, from the agent's /state."""
    state = http_json(f"http://127.0.0.1:{cluster.agents[agent].port}/state")
    for fw in state["frameworks"] + state["completed_frameworks"]:
        for ex in fw["executors"]:
            if any(t["id"] == task_id for t in ex["tasks"] + ex["completed_tasks"]):
                return str(ex["directory"])
    raise AssertionError(f"no sandbox for {task_id}")


def sandbox_file(cluster: LocalCluster, task_id: str, name: str = "stdout") -> str:
    """A file of a task's sandbox, read through the agent's /files API."""
    q = urllib.parse.urlencode({"path": f"{sandbox_of(cluster, task_id)}/{name}", "offset": 0})
    return str(http_json(f"http://127.0.0.1:{cluster.agents[0].port}/files/read?{q}")["data"])
