"""``corral run``: one command, or a batch of copies, run to completion (mesos-execute).

A framework like any other: it speaks only the public scheduler API through
``corral.scheduler_client``. The decisions are in ``run_plan`` (pure); this module is the
shell: it makes the calls the plan returns, streams a task's output from its agent's
``/files/read``, and ends the run when the tasks end, on ``--timeout``, on Ctrl-C (killing
what it launched) or, with ``--detach``, once every task runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from corral.frameworks import run_plan as rp
from corral.frameworks.run_output import follow_output
from corral.frameworks.run_plan import RunSpec, TaskResult
from corral.scheduler_client import Scheduler, SchedulerDriver
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Capability, FrameworkInfo
from corral.wire.scheduler import Offer
from corral.wire.tasks import TaskStatus, is_terminal

__all__ = ["RunFramework", "RunListener", "RunOutcome", "RunSpec", "TaskResult", "run"]

log = logging.getLogger("corral.run")
DETACHED_FAILOVER_TIMEOUT = 7 * 24 * 3600.0  # a detached run's tasks outlive the CLI this long
TICK = 0.5  # seconds between checks of a waiting run (for the "cannot place" explanation)
KILL_WAIT = 10.0  # after Ctrl-C or --timeout: how long to wait for the kills to be confirmed


class RunListener:
    """What the CLI shows; every method is optional."""

    def update(self, result: TaskResult, status: TaskStatus) -> None:
        return None

    def waiting(self, waiting: rp.Waiting) -> None:
        return None


class RunFramework(Scheduler):
    def __init__(
        self, spec: RunSpec, listener: RunListener | None = None, detach: bool = False
    ) -> None:
        self.spec = spec
        prefix = f"{spec.name}-{uuid.uuid4().hex[:8]}"
        self.plan = rp.RunPlan.new(spec, prefix, time.monotonic())
        self.listener = listener or RunListener()
        self.detach = detach
        self.changed = asyncio.Event()  # any task's state changed
        self.failure_message: str | None = None
        self.subscribed_once = asyncio.Event()

    @property
    def results(self) -> dict[str, TaskResult]:
        return self.plan.results

    @property
    def succeeded(self) -> bool:
        return all(r.state == "TASK_FINISHED" for r in self.plan.results.values())

    def framework_info(self) -> FrameworkInfo:
        return FrameworkInfo(
            user=getpass.getuser(),
            name=self.spec.name,
            hostname=socket.gethostname(),
            failover_timeout=DETACHED_FAILOVER_TIMEOUT if self.detach else 0.0,
            role=self.spec.role,
            capabilities=[
                Capability(type="PARTITION_AWARE"),
                Capability(type="TASK_KILLING_STATE"),
            ],
        )

    # ------------------------------------------------------------------ callbacks
    def subscribed(self, driver: SchedulerDriver, framework_id: str) -> None:
        self.subscribed_once.set()

    async def offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        await self.execute(driver, rp.on_offers(self.plan, offers, time.monotonic()))

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        result = rp.on_update(self.plan, status)
        if result is not None:
            self.listener.update(result, status)
            self.changed.set()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self.failure_message = message
        self.changed.set()

    # ------------------------------------------------------------------ effects
    async def execute(self, driver: SchedulerDriver, effects: list[rp.Effect]) -> None:
        calls: list[Awaitable[None]] = []
        after: list[Awaitable[None]] = []  # a suppress never overtakes the launches
        for e in effects:
            if isinstance(e, rp.LaunchTasks):
                calls.append(driver.launch(e.offer_ids, e.tasks, refuse_seconds=0.0))
            elif isinstance(e, rp.Decline):
                calls.append(driver.decline([e.offer_id], refuse_seconds=e.refuse_seconds))
            elif isinstance(e, rp.Kill):
                calls.append(self._kill(driver, e))
            elif isinstance(e, rp.Suppress):
                after.append(driver.suppress())
            else:
                self.listener.waiting(e)
        for batch in (calls, after):
            for r in await asyncio.gather(*batch, return_exceptions=True):
                if isinstance(r, Exception) and not self.plan.stopping:
                    log.warning("call failed: %s", r)

    async def _kill(self, driver: SchedulerDriver, kill: rp.Kill) -> None:
        await driver.call(
            s.Call(
                type="KILL",
                kill=s.Kill(
                    task_id=ID(kill.task_id),
                    agent_id=ID(kill.agent_id) if kill.agent_id else None,
                    kill_policy=self.spec.kill_policy,
                ),
            )
        )


Ending = Literal["done", "detached", "timeout", "interrupted", "unreachable", "lost", "refused"]


@dataclass
class RunOutcome:
    framework: RunFramework
    ending: Ending
    framework_id: str | None = None

    @property
    def results(self) -> list[TaskResult]:
        return list(self.framework.plan.results.values())

    def exit_code(self) -> int:
        if self.ending in ("unreachable", "lost"):
            return rp.EXIT_UNREACHABLE
        if self.ending == "timeout":
            return rp.EXIT_TIMEOUT
        if self.ending == "interrupted":
            return rp.EXIT_INTERRUPTED
        if self.ending == "refused":
            return rp.EXIT_LAUNCH_FAILED
        if self.ending == "detached":
            return 0
        return self.framework.plan.exit_code()


async def run(
    master: str,
    spec: RunSpec,
    listener: RunListener | None = None,
    *,
    timeout: float | None = None,
    detach: bool = False,
    stream: Callable[[str, str], None] | None = None,
    connect_timeout: float = 15.0,
) -> RunOutcome:
    """Run ``spec`` on the cluster at ``master`` until its tasks end (or ``detach``: until
    they run). ``stream(name, text)`` receives a single task's stdout and stderr as they
    grow. Ctrl-C (SIGINT) and ``timeout`` kill the launched tasks."""
    loop = asyncio.get_running_loop()
    fw = RunFramework(spec, listener, detach)
    driver = SchedulerDriver(master, fw.framework_info(), fw)
    runner = loop.create_task(driver.run())
    interrupted = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    deadline = None if timeout is None else loop.time() + timeout
    follower: asyncio.Task[None] | None = None
    output_done = asyncio.Event()
    ending: Ending = "done"
    lost_since: float | None = None  # no connection to the master since then
    try:
        ending = await _until_connected(fw, runner, interrupted, connect_timeout)
        while ending == "done":
            plan = fw.plan
            if fw.failure_message is not None or runner.done():
                ending = "refused"
                break
            if driver.connected.is_set():
                lost_since = None
            elif lost_since is None:
                lost_since = loop.time()
            elif loop.time() - lost_since >= connect_timeout and not plan.done:
                ending = "lost"  # the cluster went away: say so rather than wait forever
                break
            if plan.done or (detach and plan.all_running()):
                ending = "detached" if detach and not plan.done else "done"
                break
            if interrupted.is_set():
                ending = "interrupted"
                break
            if deadline is not None and loop.time() >= deadline:
                ending = "timeout"
                break
            if stream is not None and follower is None:
                follower = _start_follower(fw, driver, stream, output_done)
            await fw.execute(driver, rp.on_tick(plan, time.monotonic()))
            fw.changed.clear()
            waits = [_event_task(fw.changed), _event_task(interrupted)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.wait(waits, return_when="FIRST_COMPLETED"), TICK)
            for w in waits:
                w.cancel()
        if ending in ("timeout", "interrupted") and fw.subscribed_once.is_set():
            await _kill_launched(fw, driver)
        if stream is not None and follower is None:  # a task that ended before the follower
            follower = _start_follower(fw, driver, stream, output_done)
    finally:
        output_done.set()
        if follower is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(follower, 5)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        framework_id = driver.framework_id
        await driver.stop(failover=ending == "detached")
        if not runner.done():
            try:
                await asyncio.wait_for(runner, 5)
            except (TimeoutError, Exception):
                runner.cancel()
        elif not runner.cancelled() and runner.exception() is not None and not fw.failure_message:
            fw.failure_message = str(runner.exception())
    return RunOutcome(fw, ending, framework_id)


def _event_task(event: asyncio.Event) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(event.wait())


async def _until_connected(
    fw: RunFramework, runner: asyncio.Task[None], interrupted: asyncio.Event, limit: float
) -> Ending:
    waits = {_event_task(fw.subscribed_once), _event_task(interrupted), runner}
    done, _ = await asyncio.wait(waits, timeout=limit, return_when="FIRST_COMPLETED")
    for w in waits:
        if w is not runner:
            w.cancel()
    if fw.subscribed_once.is_set():
        return "done"
    if interrupted.is_set():
        return "interrupted"
    if runner in done:
        return "refused"
    return "unreachable"


async def _kill_launched(fw: RunFramework, driver: SchedulerDriver) -> None:
    """Kill what the run launched and wait (a little) for the kills to be confirmed (the
    teardown that follows kills whatever is left anyway)."""
    await fw.execute(driver, rp.on_stop(fw.plan))
    loop = asyncio.get_running_loop()
    end = loop.time() + KILL_WAIT
    launched = [r for r in fw.plan.results.values() if r.launched]
    while loop.time() < end and not all(is_terminal(r.state) for r in launched):
        fw.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fw.changed.wait(), 0.5)


def _start_follower(
    fw: RunFramework,
    driver: SchedulerDriver,
    stream: Callable[[str, str], None],
    done: asyncio.Event,
) -> asyncio.Task[None] | None:
    """Follow the output of a single task once it is launched and its agent is known."""
    results = list(fw.plan.results.values())
    if len(results) != 1 or driver.framework_id is None:
        return None
    r = results[0]
    if not r.launched or r.agent_address is None or r.state == "TASK_STAGING":
        return None

    def ended() -> bool:
        return done.is_set() or is_terminal(r.state)

    return asyncio.get_running_loop().create_task(
        follow_output(r.agent_address, driver.framework_id, r.task_id, stream, ended)
    )
