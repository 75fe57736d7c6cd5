"""LocalCluster: a real master and agents as processes on 127.0.0.1, on free ports.

For tests, benchmarks and ``corral up``. It waits for readiness on conditions (never fixed
sleeps) and stops exactly the processes it started, by pid: the master, the agents, and
each agent's launcher (which outlives its agent by design, so it is stopped explicitly).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 15.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the thing we wait for may not answer yet
            last_exc = exc
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what}"
                + (f" (last error: {last_exc})" if last_exc else "")
            )
        time.sleep(interval)


def http_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def host_pid(pid: int, cwd: str | Path) -> int | None:
    """The host pid of the process that calls itself ``pid`` (e.g. a task's ``$$``, which
    is a namespace pid under the linux containerizer) and runs in directory ``cwd``."""
    want = os.path.realpath(cwd)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") != want:
                continue
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("NSpid:") and int(line.split()[-1]) == pid:
                        return int(entry)
        except (OSError, ValueError):
            continue
    return None


def stop_process(popen: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """SIGTERM a process this program started, SIGKILL it after ``grace`` seconds, reap it."""
    if popen is None or popen.poll() is not None:
        return
    popen.terminate()
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(5)


@dataclass
class Proc:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid


@dataclass
class AgentProc(Proc):
    port: int = 0
    work_dir: Path = field(default_factory=Path)

    @property
    def launcher_pid(self) -> int | None:
        try:
            return int((self.work_dir / "launcher" / "launcher.pid").read_text())
        except (OSError, ValueError):
            return None



def exited(name: str, log: Path, lines: int = 8) -> str:
    """Why a process of the cluster is gone: its name, its log, and the log's last lines (the
    log is removed with the cluster's directory, so a failing test keeps them)."""
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        tail = []
    return f"{name} exited; see {log}" + "".join(f"\n    {line}" for line in tail)

class LocalCluster:
    def __init__(
        self,
        agents: int = 1,
        *,
        work_dir: str | Path | None = None,
        port: int | None = None,
        agent_resources: str | list[str] | None = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
        agent_attributes: list[str] | None = None,
        master_flags: list[str] | None = None,
        agent_flags: list[str] | None = None,
        ip: str = "127.0.0.1",
        masters: int = 1,
        zk: str | None = None,
        zk_session_timeout: float = 2.0,
        zk_per_master: list[str] | None = None,
        log_dirs: bool = False,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        """``log_dirs``: every master and agent also gets ``--log-dir logs/<name>`` (its
        rotated log, and its launcher's, served by its /files API). ``tls``: (CA, cert,
        key): the masters serve HTTPS with the cert, and the agents, the frameworks and this
        object's own calls trust the CA (``CORRAL_TLS_CA``)."""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="corral-")
            work_dir = self._tmp.name
        self.work_dir = Path(work_dir)
        self.ip = ip
        if masters > 1 and zk is None:
            raise ValueError("more than one master needs zk= (a ZooKeeper URL)")
        self.zk = zk
        self.zk_per_master = zk_per_master
        self.zk_session_timeout = zk_session_timeout
        self.ports = [port or free_port()] + [free_port() for _ in range(masters - 1)]
        self.port = self.ports[0]
        self.num_agents = agents
        self.agent_resources = agent_resources
        self.agent_attributes = agent_attributes or []
        self.master_flags = master_flags or []
        self.agent_flags = agent_flags or []
        self.log_dirs = log_dirs
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.ssl: ssl.SSLContext | None = None
        if tls is not None:
            ca, cert, key = tls
            self.ssl = ssl.create_default_context(cafile=str(ca))
            self.master_flags = [*self.master_flags, "--tls-cert", str(cert), "--tls-key", str(key)]
            tls_flags = ["--tls-cert", str(cert), "--tls-key", str(key)]
            self.agent_flags = [*self.agent_flags, "--tls-ca", str(ca), *tls_flags]
        self.masters: list[Proc] = []
        self.agents: list[AgentProc] = []
        self.frameworks: list[Proc] = []

    @property
    def master_proc(self) -> Proc | None:
        return self.masters[0] if self.masters else None

    @property
    def master(self) -> str:
        """The leading master's ``host:port`` (the only master without ZooKeeper)."""
        if self.zk is None:
            return f"{self.ip}:{self.port}"
        leader = wait_until(self.leader, 30, what="a leading master")
        assert leader is not None
        return leader

    @property
    def master_url(self) -> str:
        """What agents and frameworks are given: the zk:// URL in HA, else host:port."""
        return self.zk or f"{self.ip}:{self.port}"

    def leader(self) -> str | None:
        """Ask the live masters who leads (their /master/redirect); None while nobody does."""
        import http.client

        for proc, port in zip(self.masters, self.ports, strict=False):
            if proc.popen is None or proc.popen.poll() is not None:
                continue
            try:
                conn: http.client.HTTPConnection = (
                    http.client.HTTPSConnection(self.ip, port, timeout=1, context=self.ssl)
                    if self.ssl is not None
                    else http.client.HTTPConnection(self.ip, port, timeout=1)
                )
                conn.request("GET", "/master/redirect")
                resp = conn.getresponse()
                location = resp.getheader("Location") or ""
                conn.close()
            except OSError:
                continue
            if resp.status == 307 and location:
                return location.lstrip("/").split("/", 1)[0]
        return None

    def leader_index(self) -> int | None:
        leader = self.leader()
        if leader is None:
            return None
        port = int(leader.rsplit(":", 1)[1])
        return self.ports.index(port) if port in self.ports else None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.master}"

    # ------------------------------------------------------------------ start
    def _spawn(self, proc: Proc) -> None:
        proc.log.parent.mkdir(parents=True, exist_ok=True)
        with open(proc.log, "ab") as log:
            proc.popen = subprocess.Popen(
                proc.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    **({"CORRAL_TLS_CA": str(self.tls[0])} if self.tls else {}),
                },
            )

    def start(self, timeout: float = 30.0) -> LocalCluster:
        try:
            self.start_master()
            for _ in range(self.num_agents):
                self.add_agent(wait=False)
            self.wait_for_agents(self.num_agents, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_master(self, timeout: float = 20.0) -> None:
        for i in range(len(self.ports)):
            self.start_master_index(i, wait=False)
        for i, proc in enumerate(self.masters):
            wait_until(
                functools.partial(self._master_up, i),
                timeout,
                what=f"master on port {self.ports[i]} (log: {proc.log})",
            )
        if self.zk is not None:
            wait_until(self.leader, timeout, what="a leading master")

    def start_master_index(self, i: int, wait: bool = True) -> None:
        """Start (or restart) master ``i``."""
        argv = [
            sys.executable,
            "-m",
            "corral",
            "master",
            "--ip",
            self.ip,
            "--port",
            str(self.ports[i]),
            "--work-dir",
            str(self.work_dir / f"master{i}"),
        ]
        if self.zk is not None:
            quorum = len(self.ports) // 2 + 1
            argv += [
                "--zk",
                self.zk_per_master[i] if self.zk_per_master else self.zk,
                "--quorum",
                str(quorum),
                "--zk-session-timeout",
                str(self.zk_session_timeout),
            ]
        argv += self.master_flags + self._log_dir(f"master{i}")
        proc = Proc(f"master{i}", argv, self.work_dir / "logs" / f"master{i}.log")
        if i < len(self.masters):
            self.masters[i] = proc
        else:
            self.masters.append(proc)
        self._spawn(proc)
        if wait:
            wait_until(lambda: self._master_up(i), 20, what=f"master {i}")

    def _log_dir(self, name: str) -> list[str]:
        return ["--log-dir", str(self.work_dir / "logs" / name)] if self.log_dirs else []

    def kill_master(self, i: int, sig: int = signal.SIGKILL) -> None:
        popen = self.masters[i].popen
        assert popen is not None
        popen.send_signal(sig)
        popen.wait(10)

    def _master_up(self, i: int = 0) -> bool:
        popen = self.masters[i].popen
        assert popen is not None
        if popen.poll() is not None:
            raise RuntimeError(exited(f"master {i}", self.masters[i].log))
        url = f"{self.scheme}://{self.ip}:{self.ports[i]}/health"
        with urllib.request.urlopen(url, timeout=1, context=self.ssl) as resp:
            return bool(resp.status == 200)

    def add_agent(self, wait: bool = True, extra_flags: list[str] | None = None) -> AgentProc:
        i = len(self.agents)
        port = free_port()
        work = self.work_dir / f"agent{i}"
        argv = [
            sys.executable,
            "-m",
            "corral",
            "agent",
            "--master",
            self.master_url,
            "--ip",
            self.ip,
            "--port",
            str(port),
            "--work-dir",
            str(work),
            "--hostname",
            self.ip,
        ]
        res = (
            self.agent_resources[i % len(self.agent_resources)]
            if isinstance(self.agent_resources, list)
            else self.agent_resources
        )
        if res:
            argv += ["--resources", res]
        if i < len(self.agent_attributes):
            argv += ["--attributes", self.agent_attributes[i]]
        if self.zk is not None:
            argv += ["--zk-session-timeout", str(self.zk_session_timeout)]
        argv += self.agent_flags + (extra_flags or []) + self._log_dir(f"agent{i}")
        proc = AgentProc(
            f"agent{i}", argv, self.work_dir / "logs" / f"agent{i}.log", port=port, work_dir=work
        )
        self.agents.append(proc)
        self._spawn(proc)
        if wait:
            self.wait_for_agents(
                len([a for a in self.agents if a.popen and a.popen.poll() is None])
            )
        return proc

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/master/state", timeout=5, context=self.ssl) as r:
            result: dict[str, Any] = json.loads(r.read())
        return result

    def wait_for_agents(self, n: int, timeout: float = 30.0) -> None:
        def ready() -> bool:
            for a in self.agents:
                if a.popen is not None and a.popen.poll() is not None:
                    raise RuntimeError(exited(a.name, a.log))
            return sum(1 for s in self.state()["slaves"] if s["active"]) >= n

        wait_until(ready, timeout, what=f"{n} agents registered")

    def kill_agent(
        self, agent: AgentProc, sig: int = signal.SIGKILL, timeout: float = 10.0
    ) -> None:
        """Stop only the agent process (as a crash or an upgrade would); its launcher and
        tasks keep running."""
        assert agent.popen is not None
        agent.popen.send_signal(sig)
        agent.popen.wait(timeout)

    def restart_agent(self, agent: AgentProc, extra_flags: list[str] | None = None) -> None:
        """Start a stopped agent again with the same flags and work dir."""
        assert agent.popen is not None and agent.popen.poll() is not None
        agent.argv = [*agent.argv, *(extra_flags or [])]
        self._spawn(agent)

    # ------------------------------------------------------------------ stop
    def stop_agent(
        self,
        agent: AgentProc,
        kill_tasks: bool = True,
        sig: int = signal.SIGTERM,
        timeout: float = 15.0,
    ) -> None:
        """Stop one agent; with ``kill_tasks`` also its launcher and every task."""
        launcher = agent.launcher_pid
        if agent.popen is not None and agent.popen.poll() is None:
            agent.popen.send_signal(signal.SIGUSR1 if kill_tasks and sig == signal.SIGTERM else sig)
            try:
                agent.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                agent.popen.kill()
                agent.popen.wait(5)
        if kill_tasks and launcher is not None and pid_alive(launcher):
            # Our agent's launcher: ask it to kill its tasks and exit, then make sure.
            try:
                os.kill(launcher, signal.SIGTERM)
                wait_until(
                    lambda: not pid_alive(launcher), timeout, what=f"launcher {launcher} to exit"
                )
            except (ProcessLookupError, TimeoutError):
                try:
                    os.kill(launcher, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # ------------------------------------------------------------------ frameworks
    def start_framework(
        self,
        command: str,
        port: int,
        flags: list[str] | None = None,
        *,
        name: str | None = None,
        timeout: float = 30.0,
    ) -> Proc:
        """Start ``corral <command> --master <the masters> --port <port> <flags>`` (a framework
        such as ``services``, ``jobs`` or ``batch serve``: words split on spaces) and wait
        until its ``/ping`` answers. Frameworks are stopped first in ``stop()``, so their
        tasks outlive them as they do in production (the master keeps them for the
        framework's failover timeout)."""
        base = command.split()[0]
        name = name or (base if not self.frameworks else f"{base}{len(self.frameworks)}")
        argv = [
            sys.executable,
            "-m",
            "corral",
            *command.split(),
            "--master",
            self.zk if self.zk is not None else self.master,
            "--port",
            str(port),
            *(flags or []),
        ]
        proc = Proc(name, argv, self.work_dir / "logs" / f"{name}.log")
        self.frameworks.append(proc)
        self._spawn(proc)

        def up() -> bool:
            assert proc.popen is not None
            if proc.popen.poll() is not None:
                raise RuntimeError(exited(name, proc.log))
            try:
                with urllib.request.urlopen(f"http://{self.ip}:{port}/ping", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until(up, timeout, what=f"{name} answering on port {port} (log: {proc.log})")
        return proc

    @staticmethod
    def _terminate(proc: Proc) -> None:
        stop_process(proc.popen)

    def stop(self) -> None:
        for proc in self.frameworks:
            self._terminate(proc)
        for agent in self.agents:
            try:
                self.stop_agent(agent)
            except Exception:
                pass
        for proc in self.masters:
            self._terminate(proc)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "AgentProc",
    "LocalCluster",
    "free_port",
    "host_pid",
    "http_json",
    "pid_alive",
    "stop_process",
    "wait_until",
]
