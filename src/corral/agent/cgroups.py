"""cgroup v1 for task containers: memory, cpu, cpuacct and pids, under the process's own cgroups.

(Hosts whose /sys/fs/cgroup is the v2 unified hierarchy use ``cgroups2.py``; ``Cgroups()``
and ``unavailable()`` pick the right one.)

Each container gets ``<own cgroup>/corral/<container id>`` in every controller. The launcher
creates it, writes the limits, moves its own (only) thread in, ``posix_spawn``s the task
(which inherits the cgroups) and moves back: cheaper than placing the child from
``preexec_fn``. When the task ends it reads the OOM-kill counter, kills whatever is left in the
cgroup (daemons and grandchildren included) and removes the directories.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import time
from pathlib import Path

from corral.agent import cgroups2
from corral.agent.cgroups_base import CFS_PERIOD_US, PARENT, ROOT, ContainerCgroups, Limits

__all__ = ["CFS_PERIOD_US", "CONTROLLERS", "PARENT", "ROOT", "ContainerCgroups", "Limits"]

CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")


def own_cgroups(proc_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """controller -> this process's cgroup path, from /proc/self/cgroup (v1 lines only)."""
    out: dict[str, str] = {}
    with open(proc_cgroup) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(","):
                if c:
                    out[c] = path
    return out


@functools.lru_cache(maxsize=4)
def unified(root: Path = ROOT) -> bool:
    """Whether this host's cgroups are v2 only (checked once)."""
    return cgroups2.is_unified(root)


def prepare(root: Path = ROOT) -> None:
    """Before the launcher starts: on v2, delegate ``<own>/corral`` (see cgroups2.py)."""
    if unified(root):
        cgroups2.delegate(root)


def remove_idle_pool(root: Path = ROOT) -> None:
    """At launcher start: remove the empty pooled cgroups (``corral/idle-<pid>-<n>``) that
    launchers no longer running left behind (one that crashed, say)."""
    if unified(root):
        return
    try:
        own = own_cgroups()
    except OSError:
        return
    for c in CONTROLLERS:
        if c not in own:
            continue
        parent = root / c / own[c].lstrip("/") / PARENT
        with contextlib.suppress(OSError):
            for entry in os.scandir(parent):
                if entry.name.startswith("idle-") and not _owner_alive(entry.name):
                    with contextlib.suppress(OSError):
                        os.rmdir(entry.path)


def _owner_alive(idle_name: str) -> bool:
    try:
        os.kill(int(idle_name.split("-")[1]), 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return True


def Cgroups(  # named as the class it was: callers construct it
    container_id: str, root: Path = ROOT, own: dict[str, str] | None = None
) -> ContainerCgroups:
    """The cgroups of one container, v1 or v2 as this host has them."""
    if own is None and unified(root):
        return cgroups2.CgroupsV2(container_id, root)
    return CgroupsV1(container_id, root, own)


def unavailable(root: Path = ROOT) -> str | None:
    """None when cgroup v1 (or v2) memory, cpu and pids can be used here, else why not."""
    if unified(root):
        return cgroups2.unavailable(root)
    try:
        own = own_cgroups()
    except OSError as exc:
        return f"cannot read /proc/self/cgroup: {exc}"
    for c in ("memory", "cpu", "pids"):
        base = root / c
        if not (base / "cgroup.procs").exists():
            return f"no cgroup v1 '{c}' hierarchy at {base}"
        if c not in own:
            return f"this process is not in a '{c}' cgroup"
        if not os.access(base / own[c].lstrip("/"), os.W_OK):
            return f"cannot create cgroups under {base / own[c].lstrip('/')}"
    return None


@functools.lru_cache(maxsize=8)
def _own_cached(proc_cgroup: str = "/proc/self/cgroup") -> tuple[tuple[str, str], ...]:
    # The launcher's own cgroups do not change while it runs; reading them costs per launch.
    return tuple(own_cgroups(proc_cgroup).items())


class CgroupsV1:
    """The cgroups of one container, one directory per controller.

    File names are joined as strings, not ``Path`` objects: the launcher does this a dozen
    times per task, and pathlib cost more than the system calls.
    """

    def __init__(self, container_id: str, root: Path = ROOT, own: dict[str, str] | None = None):
        own = own or dict(_own_cached())
        self.own = {c: root / c / own[c].lstrip("/") for c in CONTROLLERS if c in own}
        self.paths = {c: base / PARENT / container_id for c, base in self.own.items()}
        self._dirs = {c: str(p) for c, p in self.paths.items()}

    limits: Limits | None = None  # what apply() last wrote

    def create(self, limits: Limits) -> None:
        for c, path in self._dirs.items():
            try:
                os.mkdir(path)
            except FileNotFoundError:  # the first container: make the shared parent
                self.paths[c].mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                pass
        self.apply(limits, fresh=True)

    def apply(self, limits: Limits, fresh: bool = False) -> None:
        """Write the limits: all that are set on a fresh cgroup (it starts unlimited), else
        those that changed since the last apply (a reused cgroup, a growing executor)."""
        old = None if fresh else self.limits
        self.limits = None  # unknown until every write below went through

        def changed(new: int | None, before: int | None) -> bool:
            return bool(new) if fresh else old is None or new != before

        mem = self._dirs.get("memory")
        if mem is not None and changed(limits.mem_bytes, old.mem_bytes if old else None):
            value = limits.mem_bytes or -1  # -1: no limit
            # memsw must stay >= the memory limit, so write them in the order that keeps it.
            files = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
            if not fresh:
                before = old.mem_bytes if old else _read_int(mem + "/memory.limit_in_bytes")
                if value == -1 or (before and value > before):
                    files.reverse()
            for name in files:
                try:
                    _write(f"{mem}/{name}", value)
                except OSError:
                    if name == "memory.limit_in_bytes":
                        raise  # (no swap accounting on some kernels: memsw may be missing)
        cpu = self._dirs.get("cpu")
        if cpu is not None:
            if changed(limits.cpu_shares, old.cpu_shares if old else None):
                _write(cpu + "/cpu.shares", max(2, limits.cpu_shares or 1024))
            if changed(limits.cfs_quota_us, old.cfs_quota_us if old else None):
                if limits.cfs_quota_us:
                    _write(cpu + "/cpu.cfs_period_us", CFS_PERIOD_US)
                    _write(cpu + "/cpu.cfs_quota_us", max(1000, limits.cfs_quota_us))
                else:
                    _write(cpu + "/cpu.cfs_quota_us", -1)
        pids = self._dirs.get("pids")
        if pids is not None and changed(limits.pids_max, old.pids_max if old else None):
            _write(pids + "/pids.max", limits.pids_max or "max")
        self.limits = limits

    def rename(self, container_id: str) -> None:
        """Give the cgroups another container's name (reuse from the launcher's pool)."""
        renamed: set[str] = set()
        for c, path in list(self._dirs.items()):
            new = self.paths[c].with_name(container_id)
            # Co-mounted controllers (cpu,cpuacct) reach one directory by two paths.
            real = os.path.realpath(os.path.dirname(path))
            if real not in renamed:
                os.rename(path, new)
                renamed.add(real)
            self.paths[c] = new
            self._dirs[c] = str(new)

    def reuse(self, container_id: str, limits: Limits) -> None:
        """Take an idle, empty cgroup for a new container: rename, reset usage, set limits."""
        self.rename(container_id)
        if "memory" in self._dirs:
            # The last task's page cache stays charged to an empty cgroup: reclaim it, so the
            # new task gets its whole limit and its own usage figures.
            with contextlib.suppress(OSError):
                _write(self._dirs["memory"] + "/memory.force_empty", 0)
            _write(self._dirs["memory"] + "/memory.max_usage_in_bytes", 0)
        if "cpuacct" in self._dirs:
            _write(self._dirs["cpuacct"] + "/cpuacct.usage", 0)
        self.apply(limits)

    def reusable(self) -> bool:
        """Empty and never CFS-limited (cpu.stat cannot be reset; the caller checks that it
        was not OOM-killed either, as oom_control's count cannot be reset)."""
        lim = self.limits
        if lim is None or lim.cfs_quota_us:
            return False
        pids, mem = self._dirs.get("pids"), self._dirs.get("memory")
        if pids is None or mem is None or _read(pids + "/pids.current").strip() != "0":
            return False
        return not _read(mem + "/cgroup.procs").strip()

    def enter(self, tid: int) -> None:
        """Move one thread (the launcher's) into the container's cgroups."""
        for path in self._dirs.values():
            _write(path + "/tasks", tid)

    def leave(self, tid: int) -> None:
        for c in self._dirs:
            with contextlib.suppress(OSError):
                _write(_own_tasks(str(self.own[c])), tid)

    def procs(self) -> set[int]:
        out: set[int] = set()
        for path in self._dirs.values():
            try:
                out.update(int(x) for x in _read(path + "/cgroup.procs").split())
            except ValueError:
                pass
        return out

    def oom_killed(self) -> bool:
        mem = self._dirs.get("memory")
        if mem is None:
            return False
        for line in _read(mem + "/memory.oom_control").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return value.strip().isdigit() and int(value) > 0
        return False

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        for pid in self.procs():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill everything in the container and remove its cgroups."""
        if not self._rmdir_all():
            return  # the common case: the task and all its processes are gone already
        deadline = time.monotonic() + timeout
        while self.procs() and time.monotonic() < deadline:
            self.kill_all()
            time.sleep(0.001)
        self._rmdir_all()

    def _rmdir_all(self) -> bool:
        """Remove the directories; True when some still have processes in them."""
        busy = False
        for path in self._dirs.values():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                busy = busy or exc.errno == errno.EBUSY
        return busy

    def stats(self) -> dict[str, int]:
        """Resource usage, in the units of Mesos's ResourceStatistics."""
        out: dict[str, int] = {}
        mem = self.paths.get("memory")
        if mem is not None:
            out["mem_rss_bytes"] = _read_int(mem / "memory.usage_in_bytes")
            out["mem_max_bytes"] = _read_int(mem / "memory.max_usage_in_bytes")
            out["mem_limit_bytes"] = _read_int(mem / "memory.limit_in_bytes")
        cpu = self.paths.get("cpu")
        if cpu is not None:
            for line in _read(cpu / "cpu.stat").splitlines():
                key, _, value = line.partition(" ")
                if key == "nr_periods":
                    out["cpus_nr_periods"] = int(value)
                elif key == "nr_throttled":
                    out["cpus_nr_throttled"] = int(value)
                elif key == "throttled_time":
                    out["cpus_throttled_time_ns"] = int(value)
        acct = self.paths.get("cpuacct")
        if acct is not None:
            out["cpus_time_ns"] = _read_int(acct / "cpuacct.usage")
        pids = self.paths.get("pids")
        if pids is not None:
            out["processes"] = _read_int(pids / "pids.current")
        return out


@functools.lru_cache(maxsize=16)
def _own_tasks(base: str) -> str:
    return base + "/tasks"


def _write(path: str | Path, value: int | str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read(path: str | Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return ""
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _read_int(path: str | Path) -> int:
    try:
        return int(_read(path).split()[0])
    except (ValueError, IndexError):
        return 0
