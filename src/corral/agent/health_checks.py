"""The agent's health checks and checks: timers and probes around ``corral.health.policy``.

The agent plays Mesos's command executor (and default executor, for task groups), so it
probes the tasks it runs itself, next to them: a framework never probes its tasks from its
own process. Tasks of custom executors are the executor's business, as in Mesos.

* HTTP and TCP probes go from the agent to the task's port (``policy.probe_address``).
* COMMAND probes run with the task's environment in its sandbox. Under the linux
  containerizer they run inside the task's namespaces (``nsenter --all`` into the task's
  process: its mount and root filesystem, pid, network, ipc and uts namespaces, its working
  directory), as Mesos does; under the process containerizer, and for docker tasks, they run
  next to the task, in its sandbox. A task that runs as a user of its own (``users.py``) is
  checked as that user (``nsenter --setuid/--setgid``, or ``setpriv`` outside namespaces).

The agent core says when to start and stop probing a task (``StartProbes``, ``StopProbes``,
from ``agent/core/probes.py``); the verdicts go back to it as events (``HealthResult``,
``CheckResult``), which become status updates and kills there.
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from corral.agent.core import events as ev
from corral.agent.environment import command_argv, environment
from corral.agent.namespaces import SANDBOX
from corral.agent.users import UserError
from corral.health import policy as hp
from corral.wire.tasks import CheckStatusInfo, is_terminal

if TYPE_CHECKING:
    from corral.agent.agent import Agent
    from corral.agent.core.state import TaskEntry

log = logging.getLogger("corral.agent.health")


@dataclass
class Watch:
    """The probe loops of one task."""

    loops: list[asyncio.Task[None]] = field(default_factory=list)


class HealthChecks:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.watches: dict[tuple[str, str], Watch] = {}
        self._nsenter = shutil.which("nsenter")

    # ------------------------------------------------------------------ the core's effects
    def start(self, framework_id: str, task_id: str) -> None:
        """StartProbes: the task runs; probe its health check and check."""
        fw = self.agent.state.frameworks.get(framework_id)
        task = fw.tasks.get(task_id) if fw else None
        key = (framework_id, task_id)
        if task is None or key in self.watches:
            return
        info = task.info
        try:
            health = hp.health_policy(info.health_check) if info.health_check else None
            check = hp.check_policy(info.check) if info.check else None
        except hp.InvalidCheck as exc:  # the master rejects these; an old master may not
            log.warning("task %s: %s; not probing it", task_id, exc)
            return
        watch = self.watches[key] = Watch()
        loop = asyncio.get_running_loop()
        if health is not None:
            watch.loops.append(loop.create_task(self._health_loop(task, health)))
        if check is not None:
            watch.loops.append(loop.create_task(self._check_loop(task, check)))

    def stop(self, framework_id: str, task_id: str) -> None:
        """StopProbes: the task ended."""
        watch = self.watches.pop((framework_id, task_id), None)
        for loop in watch.loops if watch else []:
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
    async def _sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - asyncio.get_running_loop().time()))

    async def _health_loop(self, task: TaskEntry, policy: hp.HealthPolicy) -> None:
        loop = asyncio.get_running_loop()
        state = hp.HealthState(started=loop.time())
        await self._sleep_until(hp.first_probe_at(policy.delay, state.started))
        while not is_terminal(task.state):
            result = await self.probe(task, policy.probe)
            now = loop.time()
            if is_terminal(task.state):
                return
            state, effects = hp.on_health_result(policy, state, result, now)
            report = next((e for e in effects if isinstance(e, hp.ReportHealth)), None)
            kill = next((e for e in effects if isinstance(e, hp.KillUnhealthy)), None)
            if report is not None:
                if kill is not None:
                    log.info("task %s: %s", task.task_id, kill.message)
                self.agent.feed(
                    ev.HealthResult(
                        task.framework_id,
                        task.task_id,
                        report.healthy,
                        report.message,
                        kill.message if kill else None,
                    )
                )
            if state.killed:
                return
            await self._sleep_until(hp.next_probe_at(policy.interval, now))

    async def _check_loop(self, task: TaskEntry, policy: hp.CheckPolicy) -> None:
        loop = asyncio.get_running_loop()
        await self._sleep_until(hp.first_probe_at(policy.delay, loop.time()))
        last: CheckStatusInfo | None = None
        while not is_terminal(task.state):
            result = await self.probe(task, policy.probe)
            if is_terminal(task.state):
                return
            last, changed = hp.on_check_result(policy.probe, last, result)
            if changed:
                self.agent.feed(ev.CheckResult(task.framework_id, task.task_id, last))
            await self._sleep_until(hp.next_probe_at(policy.interval, loop.time()))

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
        fw = self.agent.state.frameworks.get(task.framework_id)
        if fw is None:
            return hp.ProbeResult(ok=False, detail="the task's framework is gone")
        agent = self.agent
        try:  # a task's checks run as the task does
            user = agent.users.user_for(
                task.info.command.user if task.info.command else None, fw.info.user
            )
        except UserError as exc:
            return hp.ProbeResult(ok=False, detail=str(exc))
        env = environment(
            base=os.environ,
            framework=fw.info,
            task=task.info,
            executor=None,
            sandbox=task.sandbox,
            executor_id=task.executor_id or task.task_id,
            agent_id=agent.state.agent_id or "",
            agent_address=agent.address,
            hostname=agent.hostname,
            ip=agent.config.ip,
            shutdown_grace=agent.config.executor_shutdown_grace_period,
            user=user,
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
            ids = [f"--setuid={user.uid}", f"--setgid={user.gid}"] if user is not None else []
            args = [
                self._nsenter,
                f"--target={task.pid}",
                "--all",
                "--root",
                "--wd",
                *ids,
                "--",
                *args,
            ]
        elif user is not None:
            # (uvloop's subprocesses cannot change credentials themselves.)
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                return hp.ProbeResult(ok=False, detail="a check as another user needs setpriv")
            groups = ",".join(str(g) for g in user.groups) or str(user.gid)
            ids = [f"--reuid={user.uid}", f"--regid={user.gid}", f"--groups={groups}"]
            args = [setpriv, *ids, "--", *args]
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
