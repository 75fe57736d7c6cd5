"""The agent: registers with the master, runs tasks through the launcher, reports status.

One long-lived WebSocket to the master carries commands down and status updates up. Command
tasks are run by the agent itself (the launcher spawns them directly, no executor process);
custom executors are spawned the same way and speak the v1 executor API to the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from corral.agent import containers as container_ops
from corral.agent import executors as executor_ops
from corral.agent import master_link as link_ops
from corral.agent.checkpoint import Checkpoint
from corral.agent.checkpoint import TaskRecord as CheckpointedTask
from corral.agent.containerizer.base import (
    AgentFacts,
    ContainerEvent,
    ContainerizerConfig,
    LaunchSpec,
)
from corral.agent.containerizer.router import Router
from corral.agent.disk import DiskWatcher
from corral.agent.environment import kill_grace
from corral.agent.launcher_client import LauncherClient
from corral.agent.model import ExecutorEntry, FrameworkEntry, TaskEntry
from corral.agent.sandbox import FetchError, fetch_uris, make_sandbox, sandbox_dir
from corral.agent.status_updates import StatusUpdateManager
from corral.resources import Resources, from_wire
from corral.transport.link import LeaderLink, LeaderSource
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.common import AgentInfo, FrameworkInfo, MasterInfo
from corral.wire.executor import (
    ExecutorEvent,
    ExecutorKill,
)
from corral.wire.tasks import ExecutorInfo, TaskInfo, TaskStatus, is_terminal

log = logging.getLogger("corral.agent")

DEFAULT_KILL_GRACE = 3.0
MAX_COMPLETED_TASKS = 1000
MAX_COMPLETED_FRAMEWORKS = 50


@dataclass
class AgentConfig:
    master: str
    work_dir: Path
    resources: Resources
    attributes: dict[str, str | float] = field(default_factory=dict)
    ip: str = "127.0.0.1"
    port: int = 5051
    hostname: str = ""
    executor_registration_timeout: float = 60.0
    executor_shutdown_grace_period: float = 5.0
    registration_backoff_factor: float = 1.0
    status_update_retry: float = 10.0
    master_timeout: float = 75.0  # no word from the master for this long: reconnect
    recover: str = "reconnect"  # or "cleanup": kill what an earlier run left, start afresh
    zk_session_timeout: float = 10.0
    containerizers: tuple[str, ...] = ("linux", "process")
    cgroups_enable_cfs: bool = False
    cgroups_pids_max: int = 4096
    enforce_container_disk_quota: bool = False  # kill containers whose sandbox outgrows 'disk'
    disk_watch_interval: float = 15.0  # seconds between sandbox disk usage checks
    usage_report_interval: float = 15.0  # seconds between usage reports to the master; 0: none
    isolation: tuple[str, ...] = ()  # extra isolators: "network/private"
    images_dir: Path | None = None  # root filesystems for MESOS containers with an image
    docker_endpoint: str = ""  # dockerd: unix://PATH or tcp://HOST:PORT ("": $DOCKER_HOST)


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.hostname = config.hostname or socket.gethostname()
        self.agent_id: str | None = None
        self.master_info: MasterInfo | None = None
        self.frameworks: dict[str, FrameworkEntry] = {}
        self.completed_frameworks: list[FrameworkEntry] = []
        self.containers: dict[str, TaskEntry | ExecutorEntry] = {}  # container id -> owner
        self.start_time = time.time()
        self.updates = StatusUpdateManager(
            config.work_dir / "meta" / "status_updates.log",
            self._forward_update,
            retry_min=config.status_update_retry,
        )
        self.launcher = LauncherClient(config.work_dir / "launcher", lambda reply: None)
        # The one containerizer interface: launch, kill, usage, recovery (it takes the
        # launcher's replies); what happens to containers comes back as events.
        self.containerizers = Router(
            ContainerizerConfig(
                work_dir=config.work_dir,
                containerizers=config.containerizers,
                isolation=config.isolation,
                ip=config.ip,
                cgroups_enable_cfs=config.cgroups_enable_cfs,
                cgroups_pids_max=config.cgroups_pids_max,
                images_dir=config.images_dir,
                docker_endpoint=config.docker_endpoint,
                pull_timeout=config.executor_registration_timeout,
            ),
            self.launcher,
            self.container_event,
        )
        self.checkpoint = Checkpoint(config.work_dir / "meta")
        self.disk = DiskWatcher(
            self, config.disk_watch_interval, config.enforce_container_disk_quota
        )
        self.latest_state: dict[tuple[str, str], str] = {}  # newest state of each task
        self._out: list[msg.AgentToMaster] = []
        self._out_wake = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.registered = asyncio.Event()
        self._stopping = False
        self._last_heard = 0.0
        self.leader = LeaderSource(config.master, session_timeout=config.zk_session_timeout)
        self.leader.subscribe(self.on_leader)
        policy = link_ops.link_policy(config.registration_backoff_factor)
        self.link = LeaderLink(self.leader, policy)

    # ================================================================== lifecycle
    @property
    def address(self) -> str:
        return f"{self.config.ip}:{self.config.port}"

    async def start(self) -> None:
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        self._session = aiohttp.ClientSession()
        await self.containerizers.start()  # linux or process, the launcher, dockerd
        from corral.agent.recovery import cleanup, recover

        if self.config.recover == "cleanup":
            await cleanup(self)
        else:
            await recover(self)
        loop = asyncio.get_running_loop()
        await self.leader.start()
        self._tasks.append(loop.create_task(self._master_loop()))
        self._tasks.append(loop.create_task(self._timers()))
        if self.config.enforce_container_disk_quota:
            self._tasks.append(loop.create_task(self.disk.run()))

    async def stop(self, kill_tasks: bool = False) -> None:
        self._stopping = True
        self.link.stop()
        await self.containerizers.close(kill=kill_tasks)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._ws is not None:
            await self._ws.close()
        await self.leader.stop()
        for fw in self.frameworks.values():
            for ex in fw.executors.values():
                if ex.stream:
                    ex.stream.close()
        self.updates.flush()
        self.updates.close()
        self.checkpoint.flush()
        self.checkpoint.close()
        await self.launcher.close()
        if self._session:
            await self._session.close()

    # ============================================================ master link (master_link.py)
    def agent_info(self) -> AgentInfo:
        return link_ops.agent_info(self)

    def _register_message(self) -> msg.RegisterAgent:
        return link_ops._register_message(self)

    def on_leader(self, address: str | None) -> None:
        link_ops.on_leader(self, address)

    async def _master_loop(self) -> None:
        await link_ops.master_loop(self)

    def stopping(self) -> bool:
        return link_ops.stopping(self)

    async def _writer(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await link_ops._writer(self, ws)

    def send(self, m: msg.AgentToMaster) -> None:
        link_ops._send(self, m)

    async def _timers(self) -> None:
        await link_ops._timers(self)

    def _forward_update(self, update: msg.StatusUpdate) -> None:
        link_ops._forward_update(self, update)

    def _handle_master(self, m: msg.MasterToAgent) -> None:
        link_ops._handle_master(self, m)

    # ================================================================== status updates
    def status_update(
        self,
        task: TaskEntry,
        state: str,
        *,
        message: str | None = None,
        reason: str | None = None,
        source: str = "SOURCE_EXECUTOR",
        status: TaskStatus | None = None,
    ) -> None:
        """Record a new state for a task and queue a reliable update for its framework."""
        if is_terminal(task.state):
            return
        if status is None:
            status = TaskStatus(
                task_id=task.info.task_id,
                state=state,
                message=message,
                reason=reason,
                source=source,
                uuid=uuid.uuid4().bytes,
            )
        status.agent_id = ID(self.agent_id or "")
        status.timestamp = status.timestamp or time.time()
        if task.executor_id:
            status.executor_id = ID(task.executor_id)
        task.state = status.state
        self.latest_state[(task.framework_id, task.task_id)] = status.state
        if task.container_id:
            status.container_status = status.container_status or None
        self.updates.push(
            msg.StatusUpdate(framework_id=ID(task.framework_id), status=status),
            asyncio.get_running_loop().time(),
        )
        if is_terminal(task.state):
            self._task_terminal(task)

    def _task_terminal(self, task: TaskEntry) -> None:
        fw = self.frameworks.get(task.framework_id)
        if fw is None:
            return
        fw.tasks.pop(task.task_id, None)
        fw.completed.append(task)  # forgotten by the checkpoint once its update is acknowledged
        if len(fw.completed) > MAX_COMPLETED_TASKS:
            del fw.completed[: len(fw.completed) - MAX_COMPLETED_TASKS]
        if task.executor_id:
            ex = fw.executors.get(task.executor_id)
            if ex is not None:
                ex.tasks.discard(task.task_id)
                if ex.kind == "group":
                    self._group_task_ended(fw, ex, task)
                # A custom executor's cgroups are not shrunk as its tasks end: lowering a
                # memory limit below what the executor still holds would OOM-kill it (Mesos
                # too only ever raises the hard limit).

    def _acknowledge(self, m: msg.AcknowledgeUpdate) -> None:
        acked = self.updates.acknowledge(
            m.framework_id, m.task_id, m.uuid, asyncio.get_running_loop().time()
        )
        if acked is not None and is_terminal(acked.status.state):
            self.latest_state.pop((m.framework_id.value, m.task_id.value), None)
            self.checkpoint.forget_task(m.framework_id.value, m.task_id.value)
            self._maybe_forget_framework(m.framework_id.value)

    def _maybe_forget_framework(self, fid: str) -> None:
        """A framework with nothing left here (tasks, executors, pending updates) is done."""
        fw = self.frameworks.get(fid)
        if fw is None or fw.tasks or fw.executors:
            return
        if any(self.updates.has_pending(fid, t.task_id) for t in fw.completed):
            return
        del self.frameworks[fid]
        self.completed_frameworks.append(fw)
        if len(self.completed_frameworks) > MAX_COMPLETED_FRAMEWORKS:
            del self.completed_frameworks[0]

    # ================================================================== launching
    def framework_entry(self, info: FrameworkInfo) -> FrameworkEntry:
        assert info.id is not None
        fid = info.id.value
        fw = self.frameworks.get(fid)
        if fw is None:
            fw = self.frameworks[fid] = FrameworkEntry(info=info)
        else:
            fw.info = info
        return fw

    def _executor(self, fid: str, eid: str) -> ExecutorEntry | None:
        fw = self.frameworks.get(fid)
        return fw.executors.get(eid) if fw else None

    def run_task(self, framework_info: FrameworkInfo, info: TaskInfo) -> None:
        fw = self.framework_entry(framework_info)
        tid = info.task_id.value
        if tid in fw.tasks:
            return  # a duplicate delivery
        if info.executor is not None:
            self._run_executor_task(fw, info.executor, info)
            return
        cid = str(uuid.uuid4())
        sandbox = sandbox_dir(self.config.work_dir, cid)
        task = TaskEntry(framework_id=fw.framework_id, info=info, sandbox=sandbox, container_id=cid)
        fw.tasks[tid] = task
        self.containers[cid] = task
        self.checkpoint.task(
            CheckpointedTask(framework=fw.info, task=info, sandbox=str(sandbox), container_id=cid)
        )
        asyncio.get_running_loop().create_task(self._launch_command(fw, task, sandbox))

    async def _launch_command(self, fw: FrameworkEntry, task: TaskEntry, sandbox: Path) -> None:
        info = task.info
        assert info.command is not None and task.container_id is not None
        try:
            make_sandbox(sandbox)
            if info.command.uris:
                self.status_update(task, "TASK_STARTING")
                await fetch_uris(info.command.uris, sandbox, self._session, sandbox / "stderr")
        except (FetchError, OSError, ValueError) as exc:
            container_ops.task_launch_failed(self, task, str(exc))
            return
        if task.kill_requested:
            self.containers.pop(task.container_id, None)
            self.status_update(task, "TASK_KILLED", reason="REASON_TASK_KILLED_DURING_LAUNCH")
            return
        if task.state == "TASK_STAGING":
            self.status_update(task, "TASK_STARTING")
        await self.containerizers.launch(
            LaunchSpec(
                container_id=task.container_id,
                framework=fw.info,
                sandbox=sandbox,
                command=info.command,
                resources=from_wire(info.resources),
                executor_id=info.task_id.value,
                agent=self.facts(),
                shutdown_grace=self._shutdown_grace(None),
                task=info,
                kill_requested=lambda: task.kill_requested,
            )
        )

    def facts(self) -> AgentFacts:
        """What a container is told of the agent that runs it."""
        return AgentFacts(
            agent_id=self.agent_id or "",
            address=self.address,
            hostname=self.hostname,
            ip=self.config.ip,
        )

    def _shutdown_grace(self, executor: ExecutorInfo | None) -> float:
        if executor is not None and executor.shutdown_grace_period is not None:
            return executor.shutdown_grace_period.nanoseconds / 1e9
        return self.config.executor_shutdown_grace_period

    # ---------------------------------------------- executors and task groups (executors.py)
    def _run_executor_task(self, fw: FrameworkEntry, einfo: ExecutorInfo, info: TaskInfo) -> None:
        executor_ops._run_executor_task(self, fw, einfo, info)

    def _start_executor(self, fw: FrameworkEntry, einfo: ExecutorInfo, kind: str) -> ExecutorEntry:
        return executor_ops._start_executor(self, fw, einfo, kind)

    async def _launch_executor(self, fw: FrameworkEntry, ex: ExecutorEntry) -> None:
        await executor_ops._launch_executor(self, fw, ex)

    def _registration_timeout(self, ex: ExecutorEntry) -> None:
        executor_ops._registration_timeout(self, ex)

    def _executor_failed(
        self, fw: FrameworkEntry, ex: ExecutorEntry, message: str, reason: str
    ) -> None:
        executor_ops._executor_failed(self, fw, ex, message, reason)

    def _to_executor(self, ex: ExecutorEntry, event: ExecutorEvent) -> None:
        executor_ops._to_executor(self, ex, event)

    def run_task_group(
        self, framework_info: FrameworkInfo, einfo: ExecutorInfo, tasks: list[TaskInfo]
    ) -> None:
        executor_ops.run_task_group(self, framework_info, einfo, tasks)

    def _group_task_ended(self, fw: FrameworkEntry, ex: ExecutorEntry, task: TaskEntry) -> None:
        executor_ops._group_task_ended(self, fw, ex, task)

    # ================================================================== killing
    def kill_task(self, fid: str, tid: str, grace: float | None) -> None:
        fw = self.frameworks.get(fid)
        task = fw.tasks.get(tid) if fw else None
        if fw is None or task is None:
            return
        if task.executor_id and task.container_id is None:
            ex = fw.executors.get(task.executor_id)
            if ex is not None:
                kill = ExecutorKill(task_id=task.info.task_id, kill_policy=task.info.kill_policy)
                self._to_executor(ex, ExecutorEvent(type="KILL", kill=kill))
            return
        if task.kill_requested:
            return
        task.kill_requested = True
        if task.pid is None:
            return  # still fetching or spawning: reported KILLED once the launch returns
        if "TASK_KILLING_STATE" in fw.info.capability_set():
            self.status_update(task, "TASK_KILLING")
        if grace is None:
            grace = kill_grace(task.info.kill_policy)
        assert task.container_id is not None
        self.containerizers.kill(task.container_id, DEFAULT_KILL_GRACE if grace is None else grace)

    def shutdown_executor(self, fid: str, eid: str) -> None:
        ex = self._executor(fid, eid)
        if ex is None:
            return
        fw = self.frameworks[fid]
        if ex.kind == "group":
            for tid in list(ex.tasks):
                self.kill_task(fid, tid, None)
            return
        ex.shutting_down = True
        grace = self._shutdown_grace(ex.info)
        if ex.stream is not None and not ex.stream.closed:
            # As Mesos: SHUTDOWN, and destroy the container only if it outlives the grace period.
            self._to_executor(ex, ExecutorEvent(type="SHUTDOWN"))
            asyncio.get_running_loop().call_later(
                grace, self.containerizers.destroy, ex.container_id
            )
        else:
            self.containerizers.kill(ex.container_id, grace)
        del fw  # tasks are reported when the executor's process ends

    def shutdown_framework(self, fid: str) -> None:
        fw = self.frameworks.get(fid)
        if fw is None:
            return
        for eid in list(fw.executors):
            self.shutdown_executor(fid, eid)
        for tid, task in list(fw.tasks.items()):
            if task.container_id is not None:
                self.kill_task(fid, tid, None)

    # ================================================= container events (containers.py)
    def container_event(self, event: ContainerEvent) -> None:
        """The containerizers' sink: a container started, failed to, or ended."""
        container_ops.on_container_event(self, event)

    # ================================================================== views
    def sandbox_of(self, framework_id: str, executor_id: str) -> Path | None:
        """The sandbox of an executor, or of a command task (whose executor id is its task id)."""
        fw = self.frameworks.get(framework_id) or next(
            (f for f in reversed(self.completed_frameworks) if f.framework_id == framework_id),
            None,
        )
        if fw is None:
            return None
        ex = fw.executors.get(executor_id)
        if ex is not None:
            return ex.sandbox
        for t in [*fw.tasks.values(), *reversed(fw.completed)]:
            if t.task_id == executor_id or t.executor_id == executor_id:
                in_group = t.executor_id is not None and t.sandbox.parent.name == "tasks"
                return t.sandbox.parent.parent if in_group else t.sandbox
        return None

    def used_resources(self) -> Resources:
        used = Resources()
        for fw in self.frameworks.values():
            for t in fw.tasks.values():
                used = used + from_wire(t.info.resources)
        return used
