"""``corral run``: one command, or a batch of copies, run to completion (mesos-execute).

A framework like any other: it speaks only the public scheduler API through
``corral.scheduler_client``.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import socket
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from corral.resources import Resources, from_wire, scalars
from corral.scheduler_client import Scheduler, SchedulerDriver, command_task
from corral.wire.common import Capability, FrameworkInfo
from corral.wire.scheduler import Offer
from corral.wire.tasks import ContainerInfo, DockerInfo, TaskStatus, is_terminal

log = logging.getLogger("corral.run")
_EXIT = re.compile(r"exited with status (\d+)")


@dataclass
class RunSpec:
    command: str
    count: int = 1
    cpus: float = 0.1
    mem: float = 32.0
    disk: float = 0.0
    name: str = "corral-run"
    shell: bool = True
    arguments: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    uris: list[str] = field(default_factory=list)
    role: str = "*"
    docker_image: str | None = None  # run the command in this docker image (DOCKER container)
    docker_network: str = "HOST"
    force_pull: bool = False

    def container(self) -> ContainerInfo | None:
        """The task's ContainerInfo when it runs in a docker image."""
        if not self.docker_image:
            return None
        docker = DockerInfo(
            image=self.docker_image,
            network=self.docker_network,
            force_pull_image=True if self.force_pull else None,
        )
        return ContainerInfo(type="DOCKER", docker=docker)

    def resources(self) -> Resources:
        return scalars(cpus=self.cpus, mem=self.mem, disk=self.disk)


@dataclass
class TaskResult:
    task_id: str
    state: str = "TASK_STAGING"
    agent_id: str | None = None
    message: str | None = None
    reason: str | None = None
    exit_code: int | None = None


class RunFramework(Scheduler):
    def __init__(
        self,
        spec: RunSpec,
        on_update: Callable[[TaskResult, TaskStatus], None] | None = None,
    ) -> None:
        self.spec = spec
        prefix = f"{spec.name}-{uuid.uuid4().hex[:8]}"
        ids = [prefix] if spec.count == 1 else [f"{prefix}-{i}" for i in range(spec.count)]
        self.results = {tid: TaskResult(tid) for tid in ids}
        self.pending: deque[str] = deque(ids)
        self.remaining = len(ids)
        self.done = asyncio.Event()
        self.on_update = on_update
        self.need = spec.resources()
        self.failure_message: str | None = None
        self.suppressed = False

    def framework_info(self) -> FrameworkInfo:
        return FrameworkInfo(
            user=getpass.getuser(),
            name=self.spec.name,
            hostname=socket.gethostname(),
            failover_timeout=0.0,
            role=self.spec.role,
            capabilities=[Capability(type="PARTITION_AWARE")],
        )

    async def offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        if self.done.is_set():
            return  # tearing down: the master reclaims these offers
        calls = []
        container = self.spec.container()
        for offer in offers:
            available = from_wire(offer.resources)
            tasks = []
            while self.pending and available.contains(self.need):
                tid = self.pending.popleft()
                tasks.append(
                    command_task(
                        tid,
                        tid,
                        offer.agent_id.value,
                        self.spec.command,
                        self.need,
                        role=self.spec.role,
                        shell=self.spec.shell,
                        arguments=self.spec.arguments,
                        env=self.spec.env,
                        uris=self.spec.uris,
                    )
                )
                tasks[-1].container = container
                available = available - self.need
            if tasks:
                calls.append(driver.launch([offer.id.value], tasks, refuse_seconds=0.0))
            else:
                refuse = 5.0 if self.pending else 3600.0
                calls.append(driver.decline([offer.id.value], refuse_seconds=refuse))
        # Wait for the launches before suppressing, so a suppress never overtakes them.
        results = await asyncio.gather(*calls, return_exceptions=True)
        for r in results:
            if isinstance(r, Exception) and not self.done.is_set():
                log.warning("call failed: %s", r)
        if not self.pending and not self.suppressed:
            self.suppressed = True
            driver.spawn(driver.suppress())

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        result = self.results.get(status.task_id.value)
        if result is None or is_terminal(result.state):
            return
        result.state = status.state
        result.agent_id = status.agent_id.value if status.agent_id else result.agent_id
        result.message = status.message
        result.reason = status.reason
        if status.message:
            m = _EXIT.search(status.message)
            if m:
                result.exit_code = int(m.group(1))
        if self.on_update is not None:
            self.on_update(result, status)
        if is_terminal(status.state) or status.state == "TASK_UNREACHABLE":
            if status.state == "TASK_UNREACHABLE":
                result.state = "TASK_LOST"
            self.remaining -= 1
            if self.remaining <= 0:
                self.done.set()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self.failure_message = message
        self.done.set()

    @property
    def succeeded(self) -> bool:
        return all(r.state == "TASK_FINISHED" for r in self.results.values())


async def run(
    master: str,
    spec: RunSpec,
    on_update: Callable[[TaskResult, TaskStatus], None] | None = None,
    timeout: float | None = None,
) -> RunFramework:
    """Run ``spec`` on the cluster at ``master``; return when every task has ended."""
    fw = RunFramework(spec, on_update)
    driver = SchedulerDriver(master, fw.framework_info(), fw)
    runner = asyncio.get_running_loop().create_task(driver.run())
    try:
        waiter = asyncio.get_running_loop().create_task(fw.done.wait())
        finished, _ = await asyncio.wait(
            {runner, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if runner in finished and runner.exception() is not None:
            fw.failure_message = fw.failure_message or str(runner.exception())
        waiter.cancel()
    finally:
        await driver.stop()
        if not runner.done():
            try:
                await asyncio.wait_for(runner, 5)
            except (TimeoutError, Exception):
                runner.cancel()
    return fw
