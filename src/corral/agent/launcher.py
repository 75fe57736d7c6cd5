"""The launcher: one small process per agent host that is the parent of every task.

The agent starts it once; it survives agent restarts and upgrades. It spawns tasks with
``posix_spawn`` (no Python interpreter per task), each in its own session, reaps them, keeps
their exit statuses until the agent has collected them, and carries out kill policies
(SIGTERM to the process group, SIGKILL after the grace period) even while no agent is
connected. Run as ``python -m corral.agent.launcher --work-dir DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from corral.agent import launcher_protocol as p
from corral.agent import rlimits
from corral.agent.cgroups import Cgroups, CgroupsV1, ContainerCgroups, Limits, remove_idle_pool
from corral.agent.namespaces import SANDBOX, Namespaces, resolve_program
from corral.agent.portmap import PortMap, bind_ports
from corral.agent.spawn_as import spawn_as

SOCKET_NAME = "launcher.sock"
POOL_MAX = 64  # idle cgroups kept for reuse
PID_NAME = "launcher.pid"
log = logging.getLogger("corral.launcher")


class Launcher:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.running: dict[str, int] = {}  # container id -> pid
        self.by_pid: dict[int, str] = {}
        self.exited: dict[str, int] = {}
        self.cgroups: dict[str, ContainerCgroups] = {}
        self.namespaced: set[str] = set()  # containers whose task is pid 1 of its namespace
        self.scratch: dict[str, Path] = {}  # container id -> its image's writable layer
        self.pool: list[CgroupsV1] = []  # empty cgroups of ended containers, for reuse
        # container id -> the forwarding of its ports, and its network namespace
        self.port_maps: dict[str, tuple[PortMap, int]] = {}
        self._idle_seq = 0
        self._namespaces: Namespaces | None = None
        self.kill_timers: dict[str, asyncio.TimerHandle] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.stopping = asyncio.Event()
        self._outbox: list[bytes] = []
        self._flush_scheduled = False
        self._base_cwd = os.getcwd()
        self.alone_since: float | None = time.monotonic()  # no agent connected since then

    # ------------------------------------------------------------------ spawning
    def launch(self, req: p.LaunchRequest) -> None:
        if req.id in self.running or req.id in self.exited:
            self.emit(p.Failed(id=req.id, error=f"container {req.id} already exists"))
            return
        argv, path = req.argv, req.path or req.argv[0]
        env, stdout, stderr, scratch = req.env, req.stdout, req.stderr, None
        if req.rootfs:
            if not req.namespaces or Path(stdout).parent != Path(req.cwd):
                self.emit(p.Failed(id=req.id, error="an image needs namespaces and its sandbox"))
                return
            # Inside the image the sandbox is /mnt/mesos/sandbox, as in Mesos.
            env = {**env, "MESOS_SANDBOX": SANDBOX}
            stdout, stderr = f"{SANDBOX}/{Path(stdout).name}", f"{SANDBOX}/{Path(stderr).name}"
            scratch = self.work_dir / "rootfs" / req.id
        cg: ContainerCgroups | None = None
        if req.cgroups is not None:
            lim = req.cgroups
            limits = Limits(lim.mem_bytes, lim.cpu_shares, lim.cfs_quota_us, lim.pids_max)
            if self.pool:
                pooled = self.pool.pop()
                try:
                    pooled.reuse(req.id, limits)
                    cg = pooled
                except OSError:
                    pooled.destroy()
            try:
                if cg is None:
                    cg = Cgroups(req.id)
                    cg.create(limits)
            except OSError as exc:
                if cg is not None:
                    cg.destroy()
                self.emit(p.Failed(id=req.id, error=f"Failed to create cgroups: {exc}"))
                return
        listeners: list[socket.socket] = []
        if req.private_network and req.map_ports:
            try:
                listeners = bind_ports(req.map_ip or "0.0.0.0", req.map_ports)
            except OSError as exc:
                if cg is not None:
                    cg.destroy()
                self.emit(p.Failed(id=req.id, error=f"Failed to map the task's ports: {exc}"))
                return
        net_fd: int | None = None
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, stdout, flags, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, stderr, flags, 0o644),
        ]
        tid = threading.get_native_id()
        try:
            os.chdir(req.cwd)
            if cg is not None:
                cg.enter(tid)  # the child inherits the cgroups of the thread that spawns it
            try:
                with rlimits.spawning_with(req.rlimits) as later:
                    pid, net_fd = self._spawn(req, path, argv, env, actions, scratch)
                if later:
                    try:
                        rlimits.finish(pid, later)
                    except (OSError, ValueError) as exc:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(pid, signal.SIGKILL)  # reaped as nobody's child
                        raise OSError(f"cannot set its resource limits: {exc}") from exc
            finally:
                if cg is not None:
                    cg.leave(tid)
                os.chdir(self._base_cwd)
        except OSError as exc:
            if cg is not None:
                cg.destroy()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            for sock in listeners:
                sock.close()
            log.warning("container %s: failed to launch %r: %s", req.id, req.argv[0], exc)
            self.emit(p.Failed(id=req.id, error=f"Failed to launch {req.argv[0]!r}: {exc}"))
            return
        if net_fd is not None:
            self._map_ports(req.id, net_fd, listeners)
        if cg is not None:
            self.cgroups[req.id] = cg
        if req.namespaces:
            self.namespaced.add(req.id)
        if scratch is not None:
            self.scratch[req.id] = scratch
        self.running[req.id] = pid
        self.by_pid[pid] = req.id
        self.emit(p.Started(id=req.id, pid=pid))

    def _spawn(
        self,
        req: p.LaunchRequest,
        path: str,
        argv: list[str],
        env: dict[str, str],
        actions: list[tuple[int, int, str, int, int]],
        scratch: Path | None,
    ) -> tuple[int, int | None]:
        """posix_spawn the container's process: (its pid, its network namespace's fd)."""
        if req.namespaces:
            # Own pid (the task is pid 1 of it), mount (a private /proc), ipc and uts
            # namespaces.
            return self.namespaces().spawn(
                path,
                argv,
                env,
                actions,
                net=req.private_network,
                rootfs=req.rootfs,
                sandbox=req.cwd,
                scratch=scratch,
                creds=_credentials(req),
            )
        creds = _credentials(req)
        if creds is not None:
            program = resolve_program(path, os.environ.get("PATH", os.defpath))
            return spawn_as(program, argv, req.env, actions, *creds), None
        return os.posix_spawnp(path, argv, req.env, file_actions=actions, setsid=True), None

    def _map_ports(self, cid: str, net_fd: int, listeners: list[socket.socket]) -> None:
        """Forward the bound host ports into the task's network namespace until it ends."""
        if not listeners:
            os.close(net_fd)
            return
        spawner = self.namespaces()
        pm = PortMap(listeners, lambda: spawner.socket_in(net_fd))
        self.port_maps[cid] = (pm, net_fd)
        asyncio.get_running_loop().create_task(pm.start())

    def _unmap_ports(self, cid: str) -> None:
        mapped = self.port_maps.pop(cid, None)
        if mapped is not None:
            mapped[0].close()
            with contextlib.suppress(OSError):
                os.close(mapped[1])

    def _release(self, cg: ContainerCgroups, reusable: bool) -> None:
        """A container ended: keep its cgroups for the next one if they are clean (renaming
        costs less than removing and creating four cgroups), else remove them."""
        if reusable and len(self.pool) < POOL_MAX and isinstance(cg, CgroupsV1) and cg.reusable():
            self._idle_seq += 1
            try:
                cg.rename(f"idle-{os.getpid()}-{self._idle_seq}")  # unique per launcher
                self.pool.append(cg)
                return
            except OSError:
                pass
        cg.destroy()  # and everything else in its cgroups, wherever it went

    def namespaces(self) -> Namespaces:
        if self._namespaces is None:
            self._namespaces = Namespaces(self.work_dir)
        return self._namespaces

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            cid = self.by_pid.pop(pid, None)
            if cid is None:
                continue
            self.running.pop(cid, None)
            self.namespaced.discard(cid)
            self._unmap_ports(cid)
            timer = self.kill_timers.pop(cid, None)
            if timer:
                timer.cancel()
            # Leftovers of the task's session (daemons it started) go with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            limitation = ""
            cg = self.cgroups.pop(cid, None)
            if cg is not None:
                if cg.oom_killed():
                    limitation = "memory"
                self._release(cg, reusable=not limitation)
            scratch = self.scratch.pop(cid, None)
            if scratch is not None:
                # The image's mounts went with the task's mount namespace; its writes go now.
                shutil.rmtree(scratch, ignore_errors=True)
            self.exited[cid] = status
            self.emit(p.Exited(id=cid, status=status, limitation=limitation))

    def kill(self, cid: str, grace: float) -> None:
        pid = self.running.get(cid)
        if pid is None or cid in self.kill_timers:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
            if (
                grace > 0
                and cid in self.namespaced
                and not _handles_sigterm(pid)
                and not _has_children(pid)
            ):
                # The kernel drops a SIGTERM that pid 1 of a namespace has no handler for;
                # anywhere else its default action ends the process, so carry that out. Not
                # while it has children: killing pid 1 kills them at once, and they are owed
                # their grace period (`sh -c server` ends when the server, TERMed, does).
                os.kill(pid, signal.SIGKILL)
        loop = asyncio.get_running_loop()
        self.kill_timers[cid] = loop.call_later(max(grace, 0.0), self._force_kill, cid)

    def _force_kill(self, cid: str) -> None:
        self.kill_timers.pop(cid, None)
        pid = self.running.get(cid)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            cg = self.cgroups.get(cid)
            if cg is not None:
                cg.kill_all()

    async def shutdown(self, grace: float) -> None:
        for cid in list(self.running):
            self.kill(cid, grace)
        deadline = asyncio.get_running_loop().time() + grace + 5
        while self.running and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
            self.reap()
        for cg in [*self.cgroups.values(), *self.pool]:
            cg.destroy()
        self.pool.clear()
        for base in Cgroups("-").own.values():  # the shared parent, if nothing else uses it
            with contextlib.suppress(OSError):
                (base / "corral").rmdir()
        self.stopping.set()

    # ------------------------------------------------------------------ agent connection
    def emit(self, msg: p.Reply) -> None:
        self._outbox.append(p.encoder.encode(msg) + b"\n")
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.writer is None or self.writer.is_closing():
            self._outbox.clear()  # the agent asks for a listing when it reconnects
            return
        data = b"".join(self._outbox)
        self._outbox.clear()
        self.writer.write(data)

    async def serve_agent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = writer
        self.alone_since = None
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    req = p.request_decoder.decode(line)
                except Exception as exc:  # a malformed line must not kill the launcher
                    print(f"launcher: bad request {line[:200]!r}: {exc}", file=sys.stderr)
                    continue
                self.handle(req)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if self.writer is writer:
                self.writer = None
                self.alone_since = time.monotonic()
            writer.close()

    def handle(self, req: p.Request) -> None:
        if isinstance(req, p.LaunchRequest):
            self.launch(req)
        elif isinstance(req, p.KillRequest):
            self.kill(req.id, req.grace)
        elif isinstance(req, p.UpdateRequest):
            cg = self.cgroups.get(req.id)
            if cg is not None:
                lim = req.cgroups
                mem = lim.mem_bytes
                held = cg.limits
                if mem and held is not None and held.mem_bytes and mem < held.mem_bytes:
                    mem = held.mem_bytes  # never lower a running container's memory limit
                try:
                    cg.apply(Limits(mem, lim.cpu_shares, lim.cfs_quota_us, lim.pids_max))
                except OSError as exc:
                    print(f"launcher: cannot update {req.id}'s cgroups: {exc}", file=sys.stderr)
        elif isinstance(req, p.ListRequest):
            self.emit(p.Listing(running=dict(self.running), exited=dict(self.exited)))
        elif isinstance(req, p.ForgetRequest):
            for cid in req.ids:
                self.exited.pop(cid, None)
        elif isinstance(req, p.ShutdownRequest):
            asyncio.get_running_loop().create_task(self.shutdown(req.grace))


def _credentials(req: p.LaunchRequest) -> tuple[int, int, list[int]] | None:
    """(uid, gid, groups) a launch asks to run as; None: as the launcher's own user."""
    if req.uid is None:
        return None
    return req.uid, req.gid if req.gid is not None else req.uid, list(req.groups)


def _handles_sigterm(pid: int) -> bool:
    """Whether a process catches or ignores SIGTERM (from /proc/PID/status)."""
    bit = 1 << (signal.SIGTERM - 1)
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("SigCgt:", "SigIgn:")) and int(line.split()[1], 16) & bit:
                    return True
    except (OSError, ValueError, IndexError):
        pass
    return False


def _has_children(pid: int) -> bool:
    """Whether a process has children (/proc/PID/task/*/children); True when unknown."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                if f.read().strip():
                    return True
    except OSError:
        return True
    return False


def orphaned(alone_since: float | None, now: float, recovery_timeout: float) -> bool:
    """Whether no agent has been connected for ``recovery_timeout`` seconds (0: never)."""
    return (
        recovery_timeout > 0 and alone_since is not None and now - alone_since >= recovery_timeout
    )


async def watch_for_orphans(launcher: Launcher, recovery_timeout: float) -> None:
    """Mesos's ``--recovery_timeout``: a launcher whose agent does not come back in time kills
    its tasks and exits, so nothing runs that no agent reports."""
    while not launcher.stopping.is_set():
        await asyncio.sleep(min(5.0, max(0.05, recovery_timeout / 20)))
        if orphaned(launcher.alone_since, time.monotonic(), recovery_timeout):
            print(
                f"launcher: no agent for {recovery_timeout:g} s (--recovery-timeout): killing "
                f"{len(launcher.running)} container(s) and exiting",
                file=sys.stderr,
                flush=True,
            )
            await launcher.shutdown(3.0)
            return


async def amain(work_dir: Path, recovery_timeout: float = 900.0) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(work_dir)
    remove_idle_pool()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGCHLD, launcher.reap)
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(launcher.shutdown(3.0)))
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    sock = work_dir / SOCKET_NAME
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    server = await asyncio.start_unix_server(launcher.serve_agent, path=str(sock))
    (work_dir / PID_NAME).write_text(str(os.getpid()))
    log.info("launcher %d serving %s", os.getpid(), sock)
    launcher.reap()
    watchdog = loop.create_task(watch_for_orphans(launcher, recovery_timeout))
    await launcher.stopping.wait()
    watchdog.cancel()
    server.close()
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    with contextlib.suppress(FileNotFoundError):
        (work_dir / PID_NAME).unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description="corral task launcher")
    parser.add_argument("--work-dir", required=True)
    parser.add_argument(
        "--recovery-timeout",
        type=float,
        default=900.0,
        help="seconds without an agent after which every task is killed and the launcher "
        "exits (0: never)",
    )
    add_log_arguments(parser)
    args = parser.parse_args()
    configure_logging(args)
    os.umask(0o022)
    asyncio.run(amain(Path(args.work_dir), args.recovery_timeout))


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    from corral.logs import setup

    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument("--log-format", choices=setup.FORMATS, default="text")
    parser.add_argument("--log-max-bytes", type=int, default=setup.DEFAULT_MAX_BYTES)
    parser.add_argument("--log-backups", type=int, default=setup.DEFAULT_BACKUPS)
    parser.add_argument("--log-level", default="info")


def configure_logging(args: argparse.Namespace) -> None:
    """``launcher.log`` in ``--log-dir`` (the agent's), rotated; stderr otherwise."""
    from corral.logs import setup

    opts = setup.LogOptions(args.log_dir, args.log_format, args.log_max_bytes, args.log_backups)
    level = logging.getLevelName(str(args.log_level).upper())
    bad = setup.check(opts) or ("" if isinstance(level, int) else f"--log-level: {level!r}")
    if bad:
        sys.exit(f"corral launcher: {bad}")
    setup.configure("launcher", level, opts)


if __name__ == "__main__":
    main()
