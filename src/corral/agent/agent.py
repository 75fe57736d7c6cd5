"""The agent's shell: it owns the master link, the containerizers (and the launcher behind
them), executor API streams, timers, sandboxes and the files under ``--work-dir``; every
change of state goes through the core (``agent/core``): an event in, effects out, carried
out here in order.

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
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from corral import __version__
from corral.agent.checkpoint import Checkpoint
from corral.agent.containerizer import base as cz
from corral.agent.containerizer.router import Router
from corral.agent.core import effects as fx
from corral.agent.core import events as ev
from corral.agent.core.handle import handle
from corral.agent.core.recovery import recover as recover_state
from corral.agent.core.registration import agent_info, register_message
from corral.agent.core.state import (
    AgentSettings,
    AgentState,
    ExecutorEntry,
    FrameworkEntry,
    TaskEntry,
)
from corral.agent.disk import DiskWatcher
from corral.agent.executor_auth import ExecutorTokens, load_key
from corral.agent.health_checks import HealthChecks
from corral.agent.journal import Journal
from corral.agent.launcher_client import LauncherClient
from corral.agent.master_link import MasterLink
from corral.agent.sandbox import FetchError, fetch_uris, make_sandbox
from corral.agent.status_updates import (
    JournalRecord,
    StatusUpdateManager,
    UpdateRecord,
    replay,
)
from corral.agent.usage import container_usage
from corral.agent.users import OsUser, Switching, UserError
from corral.resources import Resources, from_wire
from corral.security.client import ClientSecurity
from corral.security.settings import SecuritySettings
from corral.transport.streaming import EventStream
from corral.wire import agent as msg
from corral.wire.codec import encode
from corral.wire.common import AgentInfo, Attribute, MasterInfo, Scalar, Text

log = logging.getLogger("corral.agent")


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
    recovery_timeout: float = 900.0  # the launcher outlives a gone agent this long (0: always)
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
    switch_user: bool | None = None  # run tasks as their users; None: when the agent is root
    authenticate_http_executors: bool = False  # executors must send their token
    security: SecuritySettings = field(default_factory=SecuritySettings)  # its own API's
    master_client: ClientSecurity = field(default_factory=ClientSecurity)  # to the master


def static_agent_info(config: AgentConfig, hostname: str) -> AgentInfo:
    """What the agent says of itself (without its id, which the master gives it)."""
    attrs = []
    for name, value in sorted(config.attributes.items()):
        if isinstance(value, float):
            attrs.append(Attribute(name=name, type="SCALAR", scalar=Scalar(value=value)))
        else:
            attrs.append(Attribute(name=name, type="TEXT", text=Text(value=value)))
    return AgentInfo(
        hostname=hostname,
        port=config.port,
        resources=config.resources.to_wire(),
        attributes=attrs,
    )


def containerizer_config(config: AgentConfig) -> cz.ContainerizerConfig:
    return cz.ContainerizerConfig(
        work_dir=config.work_dir,
        containerizers=config.containerizers,
        isolation=config.isolation,
        ip=config.ip,
        cgroups_enable_cfs=config.cgroups_enable_cfs,
        cgroups_pids_max=config.cgroups_pids_max,
        images_dir=config.images_dir,
        docker_endpoint=config.docker_endpoint,
        pull_timeout=config.executor_registration_timeout,
    )


def core_event(event: cz.ContainerEvent) -> ev.Event:
    """A containerizer's report as the core's event."""
    if isinstance(event, cz.Started):
        return ev.ContainerStarted(event.container_id, event.pid)
    if isinstance(event, cz.Recovered):
        return ev.ContainerRecovered(event.container_id, event.pid)
    if isinstance(event, cz.LaunchFailed):
        return ev.ContainerLaunchFailed(event.container_id, event.message)
    if isinstance(event, cz.LaunchCancelled):
        return ev.ContainerLaunchCancelled(event.container_id)
    if isinstance(event, cz.Exited):
        return ev.ContainerExited(
            event.container_id, event.status, event.succeeded, event.message, event.limitation
        )
    return ev.ContainerLost(event.container_id, event.message)


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.hostname = config.hostname or socket.gethostname()
        self.start_time = time.time()
        self.state = AgentState(
            AgentSettings(
                work_dir=config.work_dir,
                info=static_agent_info(config, self.hostname),
                address=self.address,
                version=__version__,
                executor_registration_timeout=config.executor_registration_timeout,
                executor_shutdown_grace_period=config.executor_shutdown_grace_period,
                status_update_retry=config.status_update_retry,
            )
        )
        self.update_journal: Journal[JournalRecord] = Journal(
            config.work_dir / "meta" / "status_updates.log", JournalRecord
        )
        self.launcher = LauncherClient(
            config.work_dir / "launcher",
            lambda reply: None,
            recovery_timeout=config.recovery_timeout,
            on_gone=self.launcher_gone,
        )
        self.failed: str | None = None  # why the agent must exit (the launcher is gone)
        self.fatal = asyncio.Event()
        # The one containerizer interface: launch, kill, usage, recovery (it takes the
        # launcher's replies); what happens to containers comes back as events.
        self.containerizers = Router(
            containerizer_config(config), self.launcher, self.container_event
        )
        self.checkpoint = Checkpoint(config.work_dir / "meta")
        self.disk = DiskWatcher(
            self.state,
            config.disk_watch_interval,
            config.enforce_container_disk_quota,
            lambda cid, why: self.feed(ev.DiskQuotaExceeded(cid, why)),
        )
        self.executor_streams: dict[tuple[str, str], EventStream] = {}
        self.timers: dict[tuple[str, ...], asyncio.TimerHandle] = {}
        self.pending: deque[ev.Event] = deque()  # events raised while effects are carried out
        self.handling = False
        self.background: set[asyncio.Task[None]] = set()  # launches and fetches under way
        self.master_link = MasterLink(
            config.master,
            session_timeout=config.zk_session_timeout,
            backoff_factor=config.registration_backoff_factor,
            master_timeout=config.master_timeout,
            register=lambda: register_message(self.state),
            deliver=lambda m: self.feed(ev.FromMaster(m)),
            lost=self.master_lost,
            flush=self.flush,
            client=config.master_client,
        )
        self.registered = asyncio.Event()
        self.loops: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None  # for fetching URIs
        self.health = HealthChecks(self)  # probes the health checks and checks of its tasks
        self.users = Switching.here(config.switch_user)  # as whom containers run
        # Executor tokens (executor_auth.py); None: the executor API is open.
        self.executor_tokens: ExecutorTokens | None = None
        if config.authenticate_http_executors:
            self.executor_tokens = ExecutorTokens(load_key(config.work_dir / "meta"))

    # ================================================================== lifecycle
    @property
    def address(self) -> str:
        return f"{self.config.ip}:{self.config.port}"

    async def start(self) -> None:
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        self.session = aiohttp.ClientSession()
        await self.containerizers.start()  # linux or process, the launcher, dockerd
        if self.config.recover == "cleanup":
            await self.cleanup()
        else:
            await self.recover()
        loop = asyncio.get_running_loop()
        await self.master_link.start()
        self.loops.append(loop.create_task(self.master_link.run()))
        self.loops.append(loop.create_task(self.timers_loop()))
        if self.config.enforce_container_disk_quota:
            self.loops.append(loop.create_task(self.disk.run()))

    def launcher_gone(self, why: str) -> None:
        log.critical(
            "exiting: %s (see %s)", why, self.config.work_dir / "launcher" / "launcher.log"
        )
        self.failed = why
        self.fatal.set()

    async def stop(self, kill_tasks: bool = False) -> None:
        self.master_link.link.stop()
        await self.health.close()
        await self.containerizers.close(kill=kill_tasks)
        for t in self.loops:
            t.cancel()
        for t in self.loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.master_link.stop()
        for timer in self.timers.values():
            timer.cancel()
        for stream in self.executor_streams.values():
            stream.close()
        self.flush()
        self.update_journal.close()
        self.checkpoint.close()
        await self.launcher.close()
        if self.session:
            await self.session.close()

    def flush(self) -> None:
        """Write the journals' buffered records (before messages that depend on them go)."""
        self.update_journal.flush()
        self.checkpoint.flush()

    # ================================================================== recovery
    async def recover(self) -> None:
        """``--recover reconnect``: the checkpoint and the status-update journal rebuild the
        core's state; each containerizer then reports what became of its containers
        (still running, ended while the agent was down, gone) as events."""
        checkpoint = self.checkpoint.recover()
        pending, latest = replay(self.update_journal.read())
        self.update_journal.rewrite(UpdateRecord(update=u) for q in pending.values() for u in q)
        self.execute(recover_state(self.state, checkpoint, pending, latest))
        found = await self.containerizers.recover(
            {
                cid: cz.Recoverable(
                    sandbox=owner.sandbox,
                    container=owner.info.container if isinstance(owner, TaskEntry) else None,
                )
                for cid, owner in self.state.containers.items()
            }
        )
        self.feed(ev.RecoveryFinished())
        if checkpoint.agent_id or found.running or found.ended:
            log.info(
                "recovered agent %s: %d running containers adopted, %d ended while down, "
                "%d gone, %d unknown killed",
                checkpoint.agent_id,
                found.running,
                found.ended,
                found.gone,
                found.unknown,
            )

    async def cleanup(self) -> None:
        """``--recover cleanup``: kill everything an earlier run left, start afresh."""
        await self.containerizers.cleanup()
        self.checkpoint.wipe()
        self.update_journal.rewrite([])

    # ================================================================== the core
    def feed(self, event: ev.Event) -> None:
        """Hand ``event`` to the core and carry out its effects. Events raised while effects
        are carried out (a containerizer reporting at once) wait their turn."""
        self.pending.append(event)
        if self.handling:
            return
        self.handling = True
        try:
            while self.pending:
                self.execute(handle(self.state, self.pending.popleft(), time.time()))
        finally:
            self.handling = False

    def container_event(self, event: cz.ContainerEvent) -> None:
        """The containerizers' sink: a container started, failed to, or ended."""
        self.feed(core_event(event))

    def execute(self, effects: list[fx.Effect]) -> None:
        for e in effects:
            if isinstance(e, fx.SendToMaster):
                self.master_link.send(e.message)
            elif isinstance(e, fx.WriteUpdateJournal):
                self.update_journal.append(e.record)
            elif isinstance(e, fx.CheckpointTask):
                self.checkpoint.task(e.record)
            elif isinstance(e, fx.PrepareSandbox):
                self.prepare_sandbox(e)
            elif isinstance(e, fx.LaunchContainer):
                self.launch(e)
            elif isinstance(e, fx.KillContainer):
                self.containerizers.kill(e.container_id, e.grace)
            elif isinstance(e, fx.ForgetTask):
                self.checkpoint.forget_task(e.framework_id, e.task_id)
            elif isinstance(e, fx.SendToExecutor):
                stream = self.executor_streams.get((e.framework_id, e.executor_id))
                if stream is not None and not stream.closed:
                    stream.send(encode(e.event))
            else:
                self.execute_rare(e)

    def execute_rare(self, e: fx.Effect) -> None:
        """The effects that are not on every task's path."""
        if isinstance(e, fx.DestroyContainer):
            self.containerizers.destroy(e.container_id)
        elif isinstance(e, fx.UpdateContainer):
            self.containerizers.update(e.container_id, e.resources)
        elif isinstance(e, fx.CheckpointExecutor):
            self.checkpoint.executor(e.record)
        elif isinstance(e, fx.ForgetExecutor):
            self.checkpoint.forget_executor(e.framework_id, e.executor_id)
        elif isinstance(e, fx.MakeSandbox):
            make_sandbox(e.sandbox)
        elif isinstance(e, fx.CloseExecutorStream):
            stream = self.executor_streams.pop((e.framework_id, e.executor_id), None)
            if stream is not None:
                stream.close()
        elif isinstance(e, fx.SetTimer):
            self.set_timer(e)
        elif isinstance(e, fx.CancelTimer):
            timer = self.timers.pop(e.key, None)
            if timer is not None:
                timer.cancel()
        elif isinstance(e, fx.SaveAgentId):
            self.checkpoint.save_agent_id(e.agent_id)
        elif isinstance(e, fx.Registered):
            self.registered.set()
            log.info("registered with master as %s", e.agent_id)
        elif isinstance(e, fx.StartProbes):
            self.health.start(e.framework_id, e.task_id)
        elif isinstance(e, fx.StopProbes):
            self.health.stop(e.framework_id, e.task_id)
        elif isinstance(e, fx.Reconnect):
            # Removed (e.g. after missed pings): reconnect with the same id, so the master
            # treats it as a returning agent (and kills what its frameworks gave up on).
            log.error("the master removed this agent: %s; re-registering", e.reason)
            self.master_link.reconnect()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a launch or a fetch in the background (kept referenced until it ends)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def set_timer(self, e: fx.SetTimer) -> None:
        old = self.timers.pop(e.key, None)
        if old is not None:
            old.cancel()
        event: ev.Event = e.event  # type: ignore[assignment]

        def fire() -> None:
            self.timers.pop(e.key, None)
            self.feed(event)

        delay = max(0.0, e.at - time.time())
        self.timers[e.key] = asyncio.get_running_loop().call_later(delay, fire)

    # ------------------------------------------------------------------ sandboxes
    def prepare_sandbox(self, e: fx.PrepareSandbox) -> None:
        if e.command is not None and e.command.uris:
            self.spawn(self.fetch(e))
            return
        try:
            make_sandbox(e.sandbox)
        except OSError as exc:
            self.feed(ev.SandboxFailed(e.container_id, str(exc)))
        else:
            self.feed(ev.SandboxReady(e.container_id))

    async def fetch(self, e: fx.PrepareSandbox) -> None:
        assert e.command is not None
        try:
            make_sandbox(e.sandbox)
            await fetch_uris(e.command.uris, e.sandbox, self.session, e.sandbox / "stderr")
        except (FetchError, OSError, ValueError) as exc:
            self.feed(ev.SandboxFailed(e.container_id, str(exc)))
        else:
            self.feed(ev.SandboxReady(e.container_id))

    def launch(self, e: fx.LaunchContainer) -> None:
        try:
            user = self.users.user_for(e.command.user, e.framework.user)
        except UserError as exc:
            self.feed(ev.ContainerLaunchFailed(e.container_id, str(exc)))
            return
        self.spawn(self.containerizers.launch(self.launch_spec(e, user)))

    def launch_spec(self, e: fx.LaunchContainer, user: OsUser | None = None) -> cz.LaunchSpec:
        state, cid = self.state, e.container_id
        token = ""
        if e.executor is not None and self.executor_tokens is not None:
            fid = e.framework.id.value if e.framework.id else ""
            token = self.executor_tokens.of(fid, e.executor_id, cid)

        def kill_requested() -> bool:
            owner = state.containers.get(cid)
            return isinstance(owner, TaskEntry) and owner.kill_requested

        return cz.LaunchSpec(
            container_id=cid,
            framework=e.framework,
            sandbox=e.sandbox,
            command=e.command,
            resources=e.resources,
            executor_id=e.executor_id,
            agent=self.facts(),
            shutdown_grace=e.shutdown_grace,
            task=e.task,
            executor=e.executor,
            kill_requested=kill_requested,
            user=user,
            executor_token=token,
        )

    def facts(self) -> cz.AgentFacts:
        """What a container is told of the agent that runs it."""
        return cz.AgentFacts(
            agent_id=self.state.agent_id or "",
            address=self.address,
            hostname=self.hostname,
            ip=self.config.ip,
        )

    # ================================================================== the master
    def agent_info(self) -> AgentInfo:
        return agent_info(self.state)

    def send(self, m: msg.AgentToMaster) -> None:
        """Queue a message for the master (dropped while there is no link)."""
        self.master_link.send(m)

    def master_lost(self) -> bool:
        """The master link broke: updates wait for the next registration. Whether the
        agent was registered."""
        was = self.registered.is_set()
        self.registered.clear()
        self.feed(ev.MasterDisconnected())
        return was

    async def timers_loop(self) -> None:
        """Once a second: resend due status updates, report usage now and then, and give up
        on a silent master."""
        loop = asyncio.get_running_loop()
        next_usage = loop.time() + self.config.usage_report_interval
        while True:
            await asyncio.sleep(1.0)
            self.feed(ev.Tick())
            interval = self.config.usage_report_interval
            if interval > 0 and loop.time() >= next_usage:
                next_usage = loop.time() + interval
                if self.registered.is_set():
                    usage = await container_usage(self.state, self.containerizers)
                    if usage:
                        self.send(msg.UsageReport(containers=usage))
            await self.master_link.check_silence(loop.time())

    # ================================================================== views
    @property
    def agent_id(self) -> str | None:
        return self.state.agent_id

    @property
    def master_info(self) -> MasterInfo | None:
        return self.state.master_info

    @property
    def frameworks(self) -> dict[str, FrameworkEntry]:
        return self.state.frameworks

    @property
    def completed_frameworks(self) -> list[FrameworkEntry]:
        return self.state.completed_frameworks

    @property
    def containers(self) -> dict[str, TaskEntry | ExecutorEntry]:
        return self.state.containers

    @property
    def updates(self) -> StatusUpdateManager:
        return self.state.updates

    def sandbox_of(self, framework_id: str, executor_id: str) -> Path | None:
        """The sandbox of an executor, or of a command task (whose executor id is its task id)."""
        fw = self.state.framework_or_completed(framework_id)
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
        for fw in self.state.frameworks.values():
            for t in fw.tasks.values():
                used = used + from_wire(t.info.resources)
        return used
