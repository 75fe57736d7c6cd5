"""What cgroup v1 (``cgroups.py``) and v2 (``cgroups2.py``) share: the limits a container's
cgroups hold, the layout constants, and the one interface the launcher uses for either."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ROOT = Path("/sys/fs/cgroup")
PARENT = "corral"
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    mem_bytes: int | None = None
    cpu_shares: int | None = None
    cfs_quota_us: int | None = None
    pids_max: int | None = None


class ContainerCgroups(Protocol):
    """The cgroups of one container, whichever cgroup version the host has."""

    limits: Limits | None  # what was last written in full (None: unknown)
    own: dict[str, Path]  # controller -> the launcher's own cgroup directory
    paths: dict[str, Path]  # controller -> the container's cgroup directory

    def create(self, limits: Limits) -> None: ...

    def apply(self, limits: Limits, fresh: bool = False) -> None: ...

    def enter(self, tid: int) -> None:
        """Move the (single-threaded) launcher into the container's cgroups."""

    def leave(self, tid: int) -> None: ...

    def procs(self) -> set[int]: ...

    def oom_killed(self) -> bool: ...

    def kill_all(self, sig: int = signal.SIGKILL) -> None: ...

    def destroy(self, timeout: float = 5.0) -> None: ...

    def stats(self) -> dict[str, int]:
        """Resource usage, in the units of Mesos's ResourceStatistics."""
