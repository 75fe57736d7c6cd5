"""The agent's health checks and checks: timers and probes around ``corral.health.policy``.

The agent plays Mesos's command executor (and default executor, for task groups), so it
probes the tasks it runs itself, next to them: a framework never probes its tasks from its
own process. Tasks of custom executors are the executor's business, as in Mesos.

* HTTP and TCP probes go from the agent to the task's port (``policy.probe_address``).
* COMMAND probes run with the task's environment in its sandbox. Under the linux
  containerizer they run inside the task's namespaces (``nsenter --all`` into the task's
  process: its mount and root filesystem, pid, network, ipc and uts namespaces, its working
  directory), as Mesos does; under the process containerizer, and for docker tasks, they run
  next to the task, in its sandbox.

The agent tells this module of every status update through ``on_status`` (one hook in
``Agent.status_update``): TASK_RUNNING starts the probes, a terminal state stops them, and
every update is annotated with the task's last ``healthy`` and ``check_status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from corral.agent.environment import command_argv, environment
from corral.agent.namespaces import SANDBOX
from corral.health import policy as hp
from corral.wire.tasks import CheckStatusInfo, TaskStatus, is_terminal

if TYPE_CHECKING:
    from corral.agent.agent import Agent
    from corral.agent.model import TaskEntry

log = logging.getLogger("corral.agent.health")


@dataclass
class Watch:
    """The probes of one task and what they last reported."""

    health: hp.HealthState | None = None
    check_status: CheckStatusInfo | None = None
    loops: list[asyncio.Task[None]] = field(default_factory=list)


class HealthChecks:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.watches: dict[tuple[str, str], Watch] = {}
        self._nsenter = shutil.which("nsenter")

    # ------------------------------------------------------------------ the agent's hook
    def on_status(self, task: TaskEntry, status: TaskStatus) -> None:
        """Called for every status update of a task before it is queued."""
        key = (task.framework_id, task.task_id)
        watch = self.watches.get(key)
        wanted = task.info.health_check is not None or task.info.check is not None
        if watch is None and wanted and status.state == "TASK_RUNNING" and task.container_id:
            watch = self.watches[key] = Watch()
            self._start(task, watch)
        if watch is None:
            return
        if status.healthy is None and watch.health is not None and watch.health.healthy is not None:
            status.healthy = watch.health.healthy
        if status.check_status is None and watch.check_status is not None:
            status.check_status = watch.check_status
        if is_terminal(status.state):
            if watch.health is not None and watch.health.killed and task.kill_reason:
                status.message = task.kill_reason
            self.watches.pop(key, None)
            for loop in watch.loops:
                loop.cancel()

    async def close(self) -> None:
        loops = [loop for w in self.watches.values() for loop in w.loops]
        self.watches.clear()
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop

    # ------------------------------------------------------------------ loops
    def _start(self, task: TaskEntry, watch: Watch) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        info = task.info
        try:
            health = hp.health_policy(info.health_check) if info.health_check else None
            check = hp.check_policy(info.check) if info.check else None
        except hp.InvalidCheck as exc:  # the master rejects these; an old master may not
            log.warning("task %s: %s; not probing it", task.task_id, exc)
            return
        if health is not None:
            watch.health = hp.HealthState(started=now)
            watch.loops.append(loop.create_task(self._health_loop(task, watch, health)))
        if check is not None:
            watch.loops.append(loop.create_task(self._check_loop(task, watch, check)))

    async def _sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - asyncio.get_running_loop().time()))

    async def _health_loop(self, task: TaskEntry, watch: Watch, policy: hp.HealthPolicy) -> None:
        assert watch.health is not None
        loop = asyncio.get_running_loop()
        await self._sleep_until(hp.first_probe_at(policy.delay, watch.health.started))
        while not is_terminal(task.state):
            result = await self.probe(task, policy.probe)
            now = loop.time()
            if is_terminal(task.state):
                return
            watch.health, effects = hp.on_health_result(policy, watch.health, result, now)
            for effect in effects:
                if isinstance(effect, hp.ReportHealth):
                    self._report(task, healthy=effect.healthy, message=effect.message)
                else:
                    log.info("task %s: %s", task.task_id, effect.message)
                    task.kill_reason = effect.message
                    self.agent.kill_task(task.framework_id, task.task_id, None)
            if watch.health.killed:
                return
            await self._sleep_until(hp.next_probe_at(policy.interval, now))

    async def _check_loop(self, task: TaskEntry, watch: Watch, policy: hp.CheckPolicy) -> None:
        loop = asyncio.get_running_loop()
        await self._sleep_until(hp.first_probe_at(policy.delay, loop.time()))
        while not is_terminal(task.state):
            result = await self.probe(task, policy.probe)
            if is_terminal(task.state):
                return
            watch.check_status, changed = hp.on_check_result(
                policy.probe, watch.check_status, result
            )
            if changed:
                self._report(task, check_status=watch.check_status)
            await self._sleep_until(hp.next_probe_at(policy.interval, loop.time()))

    def _report(
        self,
        task: TaskEntry,
        *,
        healthy: bool | None = None,
        message: str | None = None,
        check_status: CheckStatusInfo | None = None,
    ) -> None:
        reason = hp.HEALTH_REASON if healthy is not None else hp.CHECK_REASON
        status = TaskStatus(
            task_id=task.info.task_id,
            state="TASK_RUNNING",
            message=message,
            reason=reason,
            source="SOURCE_EXECUTOR",
            uuid=uuid.uuid4().bytes,
            healthy=healthy,
            check_status=check_status,
        )
        self.agent.status_update(task, "TASK_RUNNING", status=status)

    # ------------------------------------------------------------------ probes
    async def probe(self, task: TaskEntry, probe: hp.Probe) -> hp.ProbeResult:
        try:
            if probe.type == "COMMAND":
                return await self._command(task, probe)
            host, port = self._address(task, probe.port)
            if probe.type == "HTTP":
                return await self._http(host, port, probe)
            return await self._tcp(host, port, probe.timeout)
        except Exception as exc:  # a probe's failure is a result, never the loop's end
            log.debug("probe of %s failed", task.task_id, exc_info=True)
            return hp.ProbeResult(ok=False, detail=f"{type(exc).__name__}: {exc}")

    def _address(self, task: TaskEntry, port: int) -> tuple[str, int]:
        mappings: dict[int, int] = {}
        container = task.info.container
        docker = container.docker if container is not None else None
        if docker is not None and docker.network == "BRIDGE":
            mappings = {m.container_port: m.host_port for m in docker.port_mappings}
        config = self.agent.config
        private = self._containerizer(task) == "linux" and "network/private" in config.isolation
        return hp.probe_address(port, config.ip, private, mappings)

    def _containerizer(self, task: TaskEntry) -> str:
        return self.agent.containerizers.name_of(task.container_id or "")

    async def _http(self, host: str, port: int, probe: hp.Probe) -> hp.ProbeResult:
        url = f"{probe.scheme}://{host}:{port}{probe.path}"
        timeout = aiohttp.ClientTimeout(total=probe.timeout or None)
        no_verify = ssl.create_default_context()
        no_verify.check_hostname = False
        no_verify.verify_mode = ssl.CERT_NONE  # as Mesos's curl -k: tasks use their own certs
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, ssl=no_verify if probe.scheme == "https" else True) as resp,
            ):
                code = resp.status
        except TimeoutError:
            return hp.ProbeResult(ok=False, detail=f"GET {url}: no answer in {probe.timeout:g}s")
        except aiohttp.ClientError as exc:
            return hp.ProbeResult(ok=False, detail=f"GET {url}: {exc}")
        return hp.ProbeResult(
            ok=hp.http_healthy(code), detail=f"GET {url}: {code}", status_code=code
        )

    async def _tcp(self, host: str, port: int, timeout: float) -> hp.ProbeResult:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=timeout or None
            )
        except (OSError, TimeoutError) as exc:
            return hp.ProbeResult(ok=False, detail=f"connect {host}:{port}: {exc or 'timeout'}")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return hp.ProbeResult(ok=True, detail=f"connected to {host}:{port}")

    async def _command(self, task: TaskEntry, probe: hp.Probe) -> hp.ProbeResult:
        command = probe.command
        assert command is not None
        path, argv = command_argv(command.value or "", command.shell, command.arguments)
        fw = self.agent.frameworks.get(task.framework_id)
        if fw is None:
            return hp.ProbeResult(ok=False, detail="the task's framework is gone")
        agent = self.agent
        env = environment(
            base=os.environ,
            framework=fw.info,
            task=task.info,
            executor=None,
            sandbox=task.sandbox,
            executor_id=task.executor_id or task.task_id,
            agent_id=agent.agent_id or "",
            agent_address=agent.address,
            hostname=agent.hostname,
            ip=agent.config.ip,
            shutdown_grace=agent.config.executor_shutdown_grace_period,
        )
        for var in command.environment.variables if command.environment else []:
            if var.value is not None:
                env[var.name] = var.value
        cwd = str(task.sandbox)
        args = [path, *argv[1:]]
        inside = self._containerizer(task) == "linux" and task.pid is not None
        if inside and self._nsenter is not None:
            container = task.info.container
            if container is not None and container.mesos is not None and container.mesos.image:
                env["MESOS_SANDBOX"] = SANDBOX
            # --root/--wd without a value: the task's own root and working directory.
            assert self._nsenter is not None
            args = [self._nsenter, f"--target={task.pid}", "--all", "--root", "--wd", "--", *args]
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=probe.timeout or None)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return hp.ProbeResult(ok=False, detail=f"command timed out after {probe.timeout:g}s")
        code = proc.returncode if proc.returncode is not None else -1
        took = time.monotonic() - started
        detail = f"command exited with status {code} in {took:.2f}s"
        tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
        if code != 0 and tail:
            detail += f": {tail[0][:200]}"
        return hp.ProbeResult(ok=code == 0, detail=detail, exit_code=code if code >= 0 else None)
