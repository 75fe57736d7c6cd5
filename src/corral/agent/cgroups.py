"""cgroup v1 for task containers: memory, cpu, cpuacct and pids, under the process's own cgroups.

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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
PARENT = "corral"
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    mem_bytes: int | None = None
    cpu_shares: int | None = None
    cfs_quota_us: int | None = None
    pids_max: int | None = None


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


def unavailable(root: Path = ROOT) -> str | None:
    """None when cgroup v1 memory, cpu and pids can be used here, else why not."""
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


class Cgroups:
    """The cgroups of one container, one directory per controller.

    File names are joined as strings, not ``Path`` objects: the launcher does this a dozen
    times per task, and pathlib cost more than the system calls.
    """

    def __init__(self, container_id: str, root: Path = ROOT, own: dict[str, str] | None = None):
        own = own or dict(_own_cached())
        self.own = {c: root / c / own[c].lstrip("/") for c in CONTROLLERS if c in own}
        self.paths = {c: base / PARENT / container_id for c, base in self.own.items()}
        self._dirs = {c: str(p) for c, p in self.paths.items()}

    def create(self, limits: Limits) -> None:
        for c, path in self._dirs.items():
            try:
                os.mkdir(path)
            except FileNotFoundError:  # the first container: make the shared parent
                self.paths[c].mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                pass
        mem = self._dirs.get("memory")
        if mem is not None and limits.mem_bytes:
            _write(mem + "/memory.limit_in_bytes", limits.mem_bytes)
            with contextlib.suppress(OSError):  # no swap accounting on some kernels
                _write(mem + "/memory.memsw.limit_in_bytes", limits.mem_bytes)
        cpu = self._dirs.get("cpu")
        if cpu is not None:
            if limits.cpu_shares:
                _write(cpu + "/cpu.shares", max(2, limits.cpu_shares))
            if limits.cfs_quota_us:
                _write(cpu + "/cpu.cfs_period_us", CFS_PERIOD_US)
                _write(cpu + "/cpu.cfs_quota_us", max(1000, limits.cfs_quota_us))
        pids = self._dirs.get("pids")
        if pids is not None and limits.pids_max:
            _write(pids + "/pids.max", limits.pids_max)

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


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
