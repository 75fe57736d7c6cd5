"""cgroup v2 (the unified hierarchy) for task containers: memory, cpu and pids.

Used where ``/sys/fs/cgroup`` is the unified hierarchy itself (``cgroup.controllers`` at its
root); a host with v1 hierarchies (even with a v2 tree beside them at
``/sys/fs/cgroup/unified``, as on this project's CI machines) uses ``cgroups.py``.

Layout. v2 lets a cgroup either hold processes or hand controllers to children, not both.
So at start the agent moves itself into ``<own>/corral-supervisor`` (its launcher, started
after, inherits that), and enables ``memory cpu pids`` for ``<own>`` and ``<own>/corral``;
each container is ``<own>/corral/<container id>``.

Limits: ``memory.max`` and ``memory.swap.max = 0`` at the task's ``mem``; ``cpu.weight`` from
the v1 shares (the OCI conversion, 1024 shares -> weight 39); ``cpu.max`` with
``--cgroups-enable-cfs``; ``pids.max``. The launcher moves itself (one thread, so the whole
process, which v2 requires) into the container's cgroup around ``posix_spawn``. The kernel's
``oom_kill`` count in ``memory.events`` tells an OOM kill; ``cgroup.kill`` ends everything left.

Files are written as ``echo VALUE > FILE`` does (O_CREAT | O_TRUNC), so the same code also
runs against a plain directory tree shaped like cgroupfs (tests/unit/test_cgroups2.py): that
tests file layout and values, not the kernel.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path

from corral.agent.cgroups_base import CFS_PERIOD_US, PARENT, ROOT, Limits

SUPERVISOR = "corral-supervisor"
NEEDED = ("memory", "cpu", "pids")


def is_unified(root: Path = ROOT) -> bool:
    """Whether ``root`` is a cgroup v2 unified hierarchy (not v1, not hybrid)."""
    return (root / "cgroup.controllers").is_file()


def own_path(proc_cgroup: str = "/proc/self/cgroup") -> str:
    """This process's cgroup in the unified hierarchy (the ``0::`` line)."""
    with open(proc_cgroup) as f:
        for line in f:
            if line.startswith("0::"):
                return line.rstrip("\n")[3:]
    raise OSError(errno.ENOENT, f"no cgroup v2 line in {proc_cgroup}")


def base_dir(root: Path, own: str) -> Path:
    """Where ``corral/<container>`` goes: above the supervisor leaf the agent moved into."""
    base = root / own.lstrip("/")
    return base.parent if base.name == SUPERVISOR else base


def unavailable(root: Path = ROOT, proc_cgroup: str = "/proc/self/cgroup") -> str | None:
    """None when cgroup v2 memory, cpu and pids can be used here, else why not."""
    try:
        available = set(_read(root / "cgroup.controllers").split())
        base = base_dir(root, own_path(proc_cgroup))
    except OSError as exc:
        return f"cannot read the cgroup v2 hierarchy: {exc}"
    missing = [c for c in NEEDED if c not in available]
    if missing:
        return f"cgroup v2 controllers {', '.join(missing)} are not enabled at {root}"
    if not os.access(base, os.W_OK):
        return f"cannot create cgroups under {base}"
    return None


def delegate(
    root: Path = ROOT, proc_cgroup: str = "/proc/self/cgroup", pid: int | None = None
) -> Path:
    """Make ``<own>/corral`` ready for containers; move this process into a leaf beside it.

    Returns the directory containers go under (``<own>/corral``).
    """
    own = own_path(proc_cgroup)
    base = base_dir(root, own)
    if (root / own.lstrip("/")).name != SUPERVISOR:
        leaf = base / SUPERVISOR
        leaf.mkdir(exist_ok=True)
        _write(leaf / "cgroup.procs", pid or os.getpid())
    enable = " ".join(f"+{c}" for c in NEEDED)
    _write(base / "cgroup.subtree_control", enable)
    parent = base / PARENT
    parent.mkdir(exist_ok=True)
    _write(parent / "cgroup.subtree_control", enable)
    return parent


def cpu_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc and systemd convert."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


class CgroupsV2:
    """The cgroup of one container in the unified hierarchy."""

    def __init__(
        self, container_id: str, root: Path = ROOT, proc_cgroup: str = "/proc/self/cgroup"
    ) -> None:
        own = own_path(proc_cgroup)
        self.home = root / own.lstrip("/")  # where the launcher returns after a spawn
        base = base_dir(root, own)
        self.own = {"unified": base}
        self.path = base / PARENT / container_id
        self.paths = {"unified": self.path}
        self.limits: Limits | None = None

    def create(self, limits: Limits) -> None:
        self.path.mkdir(exist_ok=True)
        self.apply(limits, fresh=True)

    def apply(self, limits: Limits, fresh: bool = False) -> None:
        p = self.path
        if limits.mem_bytes:
            _write(p / "memory.max", limits.mem_bytes)
            with contextlib.suppress(OSError):  # no swap controller files without swap
                _write(p / "memory.swap.max", 0)
        if limits.cpu_shares:
            _write(p / "cpu.weight", cpu_weight(limits.cpu_shares))
        if limits.cfs_quota_us:
            _write(p / "cpu.max", f"{max(1000, limits.cfs_quota_us)} {CFS_PERIOD_US}")
        elif not fresh:
            _write(p / "cpu.max", f"max {CFS_PERIOD_US}")
        if limits.pids_max:
            _write(p / "pids.max", limits.pids_max)
        self.limits = limits

    def enter(self, tid: int) -> None:
        """Move the (single-threaded) launcher into the container's cgroup."""
        _write(self.path / "cgroup.procs", tid)

    def leave(self, tid: int) -> None:
        with contextlib.suppress(OSError):
            _write(self.home / "cgroup.procs", tid)

    def procs(self) -> set[int]:
        try:
            return {int(x) for x in _read(self.path / "cgroup.procs").split()}
        except (OSError, ValueError):
            return set()

    def oom_killed(self) -> bool:
        return _keyed(self.path / "memory.events").get("oom_kill", 0) > 0

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        if sig == signal.SIGKILL and (self.path / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(self.path / "cgroup.kill", 1)
                return
        for pid in self.procs():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def destroy(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    return
            self.kill_all()
            time.sleep(0.001)

    def stats(self) -> dict[str, int]:
        """Resource usage, in the units of Mesos's ResourceStatistics."""
        p = self.path
        out = {
            "mem_rss_bytes": _read_int(p / "memory.current"),
            "mem_max_bytes": _read_int(p / "memory.peak"),
            "mem_limit_bytes": _read_int(p / "memory.max"),
            "processes": _read_int(p / "pids.current"),
        }
        cpu = _keyed(p / "cpu.stat")
        out["cpus_time_ns"] = cpu.get("usage_usec", 0) * 1000
        out["cpus_nr_periods"] = cpu.get("nr_periods", 0)
        out["cpus_nr_throttled"] = cpu.get("nr_throttled", 0)
        out["cpus_throttled_time_ns"] = cpu.get("throttled_usec", 0) * 1000
        return out


def _write(path: Path, value: int | str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _read_int(path: Path) -> int:
    try:
        return int(_read(path).split()[0])  # "max" (no limit) reads as 0
    except (ValueError, IndexError):
        return 0


def _keyed(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out
