"""Resource limits (``setrlimit``) of a container's process, set by the launcher.

(``containerizer/launched.py`` decides which: Mesos's ``ContainerInfo.rlimit_info``, and the
process containerizer's defaults.) The launcher sets them around ``posix_spawn``
(which cannot run code in the child): it sets its own limits for the microseconds of the
spawn, so the child inherits them, then restores its own. A hard limit the launcher may not
lower and raise again (it is not root) is set on the child with ``prlimit(2)`` right after the
spawn instead (its soft limit is inherited, so only the ceiling comes a moment late). The
kernel checks ``NPROC`` at the spawn itself too: for an unprivileged launcher whose user already
has that many processes the launch fails, as the task's first fork would.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

from corral.agent.launcher_protocol import RLimit

# Mesos's RLimitInfo.RLimit.Type names (RLMT_<name>) that this host's kernel has.
NAMES = tuple(
    n
    for n in (
        "AS",
        "CORE",
        "CPU",
        "DATA",
        "FSIZE",
        "LOCKS",
        "MEMLOCK",
        "MSGQUEUE",
        "NICE",
        "NOFILE",
        "NPROC",
        "RSS",
        "RTPRIO",
        "RTTIME",
        "SIGPENDING",
        "STACK",
    )
    if hasattr(resource, f"RLIMIT_{n}")
)
INFINITY = resource.RLIM_INFINITY


def _value(v: int | None) -> int:
    return INFINITY if v is None else v


@contextlib.contextmanager
def spawning_with(limits: list[RLimit]) -> Iterator[list[tuple[int, tuple[int, int]]]]:
    """Around a spawn: the launcher's own limits set to ``limits`` (restored after). Yields
    the limits still to set on the child with ``prlimit`` (see :func:`finish`)."""
    privileged = os.geteuid() == 0
    restore: list[tuple[int, tuple[int, int]]] = []
    later: list[tuple[int, tuple[int, int]]] = []
    try:
        for lim in limits:
            res = getattr(resource, f"RLIMIT_{lim.name}")
            soft, hard = _value(lim.soft), _value(lim.hard)
            current = resource.getrlimit(res)
            cur_hard = current[1]
            if not privileged and cur_hard != INFINITY and (hard == INFINITY or hard > cur_hard):
                raise PermissionError(
                    f"RLIMIT_{lim.name}: hard limit {lim.hard} is above the launcher's ({cur_hard})"
                )
            try:
                resource.setrlimit(res, (soft, hard) if privileged else (soft, cur_hard))
            except ValueError as exc:
                raise OSError(f"RLIMIT_{lim.name}: {exc}") from None
            restore.append((res, current))
            if not privileged and hard != cur_hard:
                later.append((res, (soft, hard)))
        yield later
    finally:
        for res, previous in reversed(restore):
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(res, previous)


def finish(pid: int, later: list[tuple[int, tuple[int, int]]]) -> None:
    """Set on the spawned child what the launcher could not hand down (``prlimit(2)``)."""
    for res, value in later:
        resource.prlimit(pid, res, value)
