"""Disk quota of sandboxes (Mesos's ``disk/du`` isolator).

Every ``--disk-watch-interval`` seconds the agent measures each running container's sandbox
the way ``du`` does (allocated blocks, each hard-linked file once, symlinks not followed) in a
worker thread. With ``--enforce-container-disk-quota``, a container whose sandbox outgrows its
``disk`` resource is killed and its task ends ``TASK_FAILED`` with
``REASON_CONTAINER_LIMITATION_DISK``; without it the usage is only measured.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from corral.agent.core.state import AgentState, ExecutorEntry, TaskEntry
from corral.resources import from_wire

log = logging.getLogger("corral.agent")

MB = 1 << 20


def disk_usage(path: Path | str) -> int:
    """Bytes allocated under ``path``, as ``du -s`` counts them."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(path)]
    while stack:
        top = stack.pop()
        try:
            entries = os.scandir(top)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_nlink > 1 and not entry.is_dir(follow_symlinks=False):
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total


def quota_mb(owner: TaskEntry | ExecutorEntry, state: AgentState) -> float:
    """The disk a container may use: its task's, or a custom executor's plus its tasks'."""
    if isinstance(owner, TaskEntry):
        return from_wire(owner.info.resources).scalar("disk")
    disk = from_wire(owner.info.resources).scalar("disk")
    fw = state.frameworks.get(owner.framework_id)
    for tid in owner.tasks:
        task = fw.tasks.get(tid) if fw else None
        if task is not None:
            disk += from_wire(task.info.resources).scalar("disk")
    return disk


class DiskWatcher:
    """Measures the sandboxes of ``state``'s containers; with ``enforce``, tells
    ``exceeded(container id, why)`` of each that outgrew its quota (the agent's core then
    destroys it and fails its task for it)."""

    def __init__(
        self,
        state: AgentState,
        interval: float,
        enforce: bool,
        exceeded: Callable[[str, str], None],
    ) -> None:
        self.state = state
        self.interval = interval
        self.enforce = enforce
        self.exceeded = exceeded
        self.usage: dict[str, int] = {}  # container id -> bytes at the last check

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # one bad pass must not end the watching
                log.exception("disk usage check failed")

    async def check(self) -> None:
        state = self.state
        watched: list[tuple[str, Path, float]] = []
        for cid, owner in list(state.containers.items()):
            if cid in state.disk_exceeded:
                continue  # already being destroyed for it
            if isinstance(owner, TaskEntry) and owner.pid is None:
                continue  # not started yet: its URIs may still be fetched
            watched.append((cid, owner.sandbox, quota_mb(owner, state)))
        if not watched:
            self.usage.clear()
            return
        sizes = await asyncio.to_thread(lambda: [disk_usage(path) for _, path, _ in watched])
        self.usage = {cid: size for (cid, _, _), size in zip(watched, sizes, strict=True)}
        if not self.enforce:
            return
        for (cid, _, limit), size in zip(watched, sizes, strict=True):
            if limit > 0 and size > limit * MB and cid in state.containers:
                why = (
                    f"Disk usage ({size / MB:.1f} MB) exceeds quota ({limit:g} MB): "
                    "the container was killed"
                )
                log.info("container %s: %s", cid, why)
                self.exceeded(cid, why)
