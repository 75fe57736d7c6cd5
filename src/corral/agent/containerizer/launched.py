"""What the ``process`` and ``linux`` containerizers share: containers are the launcher's
children (``agent/launcher.py``), asked for over its socket; its replies become events.

The launcher outlives the agent, so a restarted agent recovers by listing what it still runs
and what exited meanwhile. ``process`` and ``linux`` differ only in what a launch asks of the
launcher (cgroups, namespaces, an image, resource limits): ``options``.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from corral.agent import launcher_protocol as lp
from corral.agent.containerizer.base import (
    ContainerEventSink,
    Exited,
    LaunchFailed,
    LaunchSpec,
    Lost,
    Recoverable,
    RecoverySummary,
    Started,
    Statistics,
)
from corral.agent.containerizer.base import Recovered as RecoveredEvent
from corral.agent.environment import command_argv, environment
from corral.agent.launcher_client import LauncherClient
from corral.agent.rlimits import INFINITY, NAMES
from corral.resources import Resources
from corral.wire.tasks import ContainerInfo


class LaunchRefused(Exception):
    """The container cannot be launched as asked; the message names the field or flag."""


@dataclass
class Options:
    """What a launch asks of the launcher beyond the command (see LaunchRequest)."""

    cgroups: lp.CgroupLimits | None = None
    namespaces: bool = False
    private_network: bool = False
    map_ports: list[int] = field(default_factory=list)
    rootfs: str = ""
    rlimits: list[lp.RLimit] = field(default_factory=list)


class LauncherContainerizer:
    name = "process"

    def __init__(self, launcher: LauncherClient, sink: ContainerEventSink) -> None:
        self.launcher = launcher
        self.sink = sink
        self.active: set[str] = set()  # launched or recovered, and not yet ended
        launcher.on_reply = self.on_reply

    async def options(self, spec: LaunchSpec) -> Options:
        """What this containerizer asks of the launcher for ``spec`` (LaunchRefused: not)."""
        return Options(rlimits=rlimits_of(spec.container))

    # ------------------------------------------------------------------ the interface
    async def launch(self, spec: LaunchSpec) -> None:
        try:
            opts = await self.options(spec)
        except LaunchRefused as exc:
            self.sink(LaunchFailed(spec.container_id, str(exc)))
            return
        cmd = spec.command
        path, argv = command_argv(cmd.value or "", cmd.shell, cmd.arguments)
        env = environment(
            base=os.environ,
            framework=spec.framework,
            task=spec.task,
            executor=spec.executor,
            sandbox=spec.sandbox,
            executor_id=spec.executor_id,
            agent_id=spec.agent.agent_id,
            agent_address=spec.agent.address,
            hostname=spec.agent.hostname,
            ip=spec.agent.ip,
            shutdown_grace=spec.shutdown_grace,
            user=spec.user,
            executor_token=spec.executor_token,
        )
        user = spec.user
        self.active.add(spec.container_id)
        self.launcher.send(
            lp.LaunchRequest(
                id=spec.container_id,
                argv=argv,
                path=path,
                env=env,
                cwd=str(spec.sandbox),
                stdout=str(spec.sandbox / "stdout"),
                stderr=str(spec.sandbox / "stderr"),
                cgroups=opts.cgroups,
                namespaces=opts.namespaces,
                private_network=opts.private_network,
                map_ports=opts.map_ports,
                map_ip=spec.agent.ip,
                rootfs=opts.rootfs,
                rlimits=opts.rlimits,
                uid=user.uid if user else None,
                gid=user.gid if user else None,
                groups=list(user.groups) if user else [],
            )
        )

    def kill(self, container_id: str, grace: float) -> None:
        self.launcher.send(lp.KillRequest(id=container_id, grace=grace))

    def destroy(self, container_id: str) -> None:
        self.launcher.send(lp.KillRequest(id=container_id, grace=0))

    def update(self, container_id: str, resources: Resources) -> None:
        return None  # plain processes hold no limits that could grow

    async def usage(self, container_ids: Collection[str]) -> dict[str, Statistics]:
        return {}  # nothing to read usage from

    async def recover(self, containers: Mapping[str, Recoverable]) -> RecoverySummary:
        listing = await self.launcher.list()
        summary = RecoverySummary()
        for cid in containers:
            if cid in listing.running:
                summary.running += 1
                self.active.add(cid)
                self.sink(RecoveredEvent(cid, listing.running[cid]))
            elif cid in listing.exited:
                summary.ended += 1
                self.exited(cid, listing.exited[cid], "")
            else:
                summary.gone += 1
                self.sink(Lost(cid, "The task's process was gone when the agent restarted"))
        summary.unknown = self.drop_unowned(listing, set(containers))
        return summary

    async def cleanup(self) -> int:
        listing = await self.launcher.list()
        for cid in listing.running:
            self.destroy(cid)
        if listing.exited:
            self.launcher.send(lp.ForgetRequest(ids=list(listing.exited)))
        return len(listing.running)

    async def close(self, kill: bool) -> None:
        self.launcher.closing()  # a launcher that goes away now is not to be restarted
        if kill:
            self.launcher.send(lp.ShutdownRequest(grace=1.0))

    # ------------------------------------------------------------------ the launcher's replies
    def on_reply(self, reply: lp.Reply) -> None:
        if isinstance(reply, lp.Listing):
            # After reconnecting to the launcher: catch up on exits missed meanwhile.
            for cid, status in reply.exited.items():
                if cid in self.active:
                    self.exited(cid, status, "")
            self.drop_unowned(reply, self.active)
        elif isinstance(reply, lp.Started):
            self.sink(Started(reply.id, reply.pid))
        elif isinstance(reply, lp.Failed):
            self.active.discard(reply.id)
            self.sink(LaunchFailed(reply.id, reply.error))
        else:
            self.exited(reply.id, reply.status, reply.limitation)

    def exited(self, cid: str, status: int, limitation: str) -> None:
        self.active.discard(cid)
        ok, text = lp.describe_status(status)
        self.sink(Exited(cid, status, ok, text, limitation or None))
        self.launcher.send(lp.ForgetRequest(ids=[cid]))  # collected: the launcher may forget

    def drop_unowned(self, listing: lp.Listing, owned: Collection[str]) -> int:
        """Kill the launcher's containers not among ``owned`` (how many), and let it forget
        the exit statuses nobody will collect."""
        leftovers = [cid for cid in listing.running if cid not in owned]
        for cid in leftovers:
            self.destroy(cid)
        stale = [cid for cid in listing.exited if cid not in owned]
        if stale:
            self.launcher.send(lp.ForgetRequest(ids=stale))
        return len(leftovers)


class RLimitError(LaunchRefused):
    """``rlimit_info`` asks for something impossible; the message names the field."""


def rlimits_of(container: ContainerInfo | None) -> list[lp.RLimit]:
    """The limits a task's ``ContainerInfo.rlimit_info`` asks for, checked as Mesos does:
    a known type, each at most once, ``soft`` and ``hard`` both set (or neither: unlimited),
    and ``soft`` not above ``hard``."""
    info = container.rlimit_info if container is not None else None
    if info is None:
        return []
    out: list[lp.RLimit] = []
    seen: set[str] = set()
    for i, r in enumerate(info.rlimits):
        where = f"container.rlimit_info.rlimits[{i}]"
        name = (r.type or "").removeprefix("RLMT_")
        if name not in NAMES:
            raise RLimitError(f"{where}.type: {r.type!r} is not a resource limit of this host")
        if name in seen:
            raise RLimitError(f"{where}.type: RLMT_{name} is given twice")
        seen.add(name)
        if (r.soft is None) != (r.hard is None):
            raise RLimitError(f"{where}: set both soft and hard, or neither (unlimited)")
        if r.soft is not None and r.hard is not None:
            if r.soft < 0 or r.hard < 0:
                raise RLimitError(f"{where}: limits must not be negative")
            if r.soft > r.hard:
                raise RLimitError(f"{where}.soft: {r.soft} is above hard ({r.hard})")
        out.append(lp.RLimit(name=name, soft=r.soft, hard=r.hard))
    return out


def merged(defaults: list[lp.RLimit], asked: list[lp.RLimit]) -> list[lp.RLimit]:
    """``defaults`` with the task's own limits taking the place of those it names."""
    names = {r.name for r in asked}
    return [r for r in defaults if r.name not in names] + asked


def capped_default(name: str, value: int) -> lp.RLimit:
    """A default limit of ``value`` (soft and hard), never above what this process may set."""
    _, hard = resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))
    v = value if hard == INFINITY else min(value, hard)
    return lp.RLimit(name=name, soft=v, hard=v)
