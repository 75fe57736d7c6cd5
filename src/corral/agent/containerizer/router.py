"""The one place that chooses a containerizer.

A launch goes by the task's ``ContainerInfo``: DOCKER to the docker containerizer, anything
else (MESOS, or none) to the launcher's (``linux`` where cgroups can be used, else
``process``). Everything after a launch (kill, destroy, update, usage) goes to whichever
containerizer owns the container id. The agent holds one ``Router`` and never asks what kind
a container is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Literal

from corral.agent.cgroups import prepare as prepare_cgroups
from corral.agent.cgroups import unavailable as cgroups_unavailable
from corral.agent.containerizer.base import (
    TERMINAL_EVENTS,
    ContainerEvent,
    ContainerEventSink,
    Containerizer,
    ContainerizerConfig,
    LaunchFailed,
    LaunchSpec,
    Recoverable,
    RecoverySummary,
    Statistics,
)
from corral.agent.containerizer.docker import DockerContainerizer
from corral.agent.containerizer.launched import LauncherContainerizer
from corral.agent.containerizer.linux import LinuxContainerizer
from corral.agent.containerizer.process import ProcessContainerizer
from corral.agent.docker_spec import default_endpoint
from corral.agent.launcher_client import LauncherClient
from corral.agent.users import give_sandbox
from corral.resources import Resources
from corral.wire.tasks import ContainerInfo

log = logging.getLogger("corral.agent")

Kind = Literal["docker", "launcher"]


def kind_for(container: ContainerInfo | None) -> Kind:
    """Which containerizer a container with this ContainerInfo runs in."""
    return "docker" if container is not None and container.kind == "DOCKER" else "launcher"


def linux_unavailable(config: ContainerizerConfig) -> str | None:
    """None when the linux containerizer can be used here (its cgroups prepared), else why."""
    why = cgroups_unavailable()
    if why is None:
        try:
            prepare_cgroups()  # cgroup v2: delegate <own>/corral before the launcher starts
        except OSError as exc:  # e.g. v2 processes that are not ours in our cgroup
            why = f"cannot prepare cgroups: {exc}"
    return why


class Router:
    def __init__(
        self, config: ContainerizerConfig, launcher: LauncherClient, sink: ContainerEventSink
    ) -> None:
        self.config = config
        self.sink = sink
        self.launcher_client = launcher
        # Until start() knows better: plain processes.
        self.launched: LauncherContainerizer = ProcessContainerizer(
            launcher, self.deliver, config.cgroups_pids_max
        )
        self.docker: Containerizer | None = None
        self.docker_why: str | None = "docker is not among this agent's --containerizers"
        self.owners: dict[str, Containerizer] = {}  # container id -> its containerizer

    # ------------------------------------------------------------------ start and stop
    async def start(self) -> None:
        """Choose ``linux`` or ``process``, start (or reach) the launcher, reach dockerd."""
        c = self.config
        linux = False
        if "linux" in c.containerizers:
            why = linux_unavailable(c)
            linux = why is None
            if why is not None and "process" in c.containerizers:
                log.warning("linux containerizer unavailable (%s); using process", why)
            elif why is not None:
                raise RuntimeError(f"--containerizers linux: {why}")
        if c.isolation and not linux:
            isolators = ",".join(c.isolation)
            raise RuntimeError(f"--isolation {isolators} needs the linux containerizer")
        if linux:
            self.launched = LinuxContainerizer(self.launcher_client, self.deliver, c)
        log.info("containerizer: %s", "linux (cgroups, namespaces)" if linux else "process")
        await self.launcher_client.connect()
        if "docker" in c.containerizers:
            await self.start_docker()

    async def start_docker(self) -> None:
        """Use docker when dockerd answers."""
        c = self.config
        d = DockerContainerizer(
            self.deliver,
            c.docker_endpoint or default_endpoint(),
            c.work_dir,
            hard_cpu_limit=c.cgroups_enable_cfs,
            pull_timeout=c.pull_timeout,
        )
        why = await d.connect()
        if why is None:
            self.docker, self.docker_why = d, None
        else:
            self.docker_why = why
            log.warning("docker containerizer unavailable (%s); docker tasks will fail", why)

    def all(self) -> list[Containerizer]:
        return [self.launched, *([self.docker] if self.docker is not None else [])]

    def names(self) -> list[str]:
        """The containerizers this agent really uses, in order of preference."""
        names = [c.name for n in self.config.containerizers for c in self.all() if c.name == n]
        if self.launched.name not in names:
            names.append(self.launched.name)  # commands always run somewhere
        return names

    def name_of(self, container_id: str) -> str:
        """The containerizer that runs (or is about to run) a container."""
        return self.owners.get(container_id, self.launched).name

    async def close(self, kill: bool) -> None:
        """The agent stops: with ``kill``, end every container."""
        for c in self.all():
            await c.close(kill)

    # ------------------------------------------------------------------ the interface
    def deliver(self, event: ContainerEvent) -> None:
        """Every containerizer's sink: an ended container belongs to nobody any more."""
        if isinstance(event, TERMINAL_EVENTS):
            self.owners.pop(event.container_id, None)
        self.sink(event)

    def choose(self, container: ContainerInfo | None) -> Containerizer | None:
        if kind_for(container) == "docker":
            return self.docker
        return self.launched

    async def launch(self, spec: LaunchSpec) -> None:
        c = self.choose(spec.container)
        if c is None:
            message = f"This agent cannot run DOCKER containers: {self.docker_why}"
            self.deliver(LaunchFailed(spec.container_id, message))
            return
        self.owners[spec.container_id] = c
        if spec.user is not None:
            try:  # fetched files, stdout and stderr: the task's own
                await asyncio.to_thread(give_sandbox, spec.sandbox, spec.user)
            except OSError as exc:
                message = f"Failed to give the sandbox to user {spec.user.name!r}: {exc}"
                self.deliver(LaunchFailed(spec.container_id, message))
                return
        await c.launch(spec)

    def kill(self, container_id: str, grace: float) -> None:
        self.owners.get(container_id, self.launched).kill(container_id, grace)

    def destroy(self, container_id: str) -> None:
        self.owners.get(container_id, self.launched).destroy(container_id)

    def update(self, container_id: str, resources: Resources) -> None:
        c = self.owners.get(container_id)
        if c is not None:
            c.update(container_id, resources)

    async def usage(self, container_ids: Collection[str]) -> dict[str, Statistics]:
        """The usage of each container its containerizer can measure (a container not yet
        launched counts as the launcher's)."""
        groups: dict[int, tuple[Containerizer, list[str]]] = {}
        for cid in container_ids:
            c = self.owners.get(cid, self.launched)
            groups.setdefault(id(c), (c, []))[1].append(cid)
        out: dict[str, Statistics] = {}
        for c, ids in groups.values():  # at most two; the linux one reads files at once
            out.update(await c.usage(ids))
        return out

    async def recover(self, containers: Mapping[str, Recoverable]) -> RecoverySummary:
        """After a restart: hand each checkpointed container to the containerizer that ran
        it, which reports it (Recovered, Exited or Lost) and destroys its unknown ones."""
        by: dict[Kind, dict[str, Recoverable]] = {"docker": {}, "launcher": {}}
        for cid, known in containers.items():
            by[kind_for(known.container)][cid] = known
        if by["docker"] and self.docker is None:
            # Reporting them as gone would free resources their containers still use.
            raise RuntimeError(
                f"{len(by['docker'])} docker task(s) were running under this agent, but docker "
                "is not available now (see above); start dockerd and restart the agent, or "
                "restart it with --recover cleanup"
            )
        summary = RecoverySummary()
        pairs: list[tuple[Containerizer | None, dict[str, Recoverable]]] = [
            (self.docker, by["docker"]),
            (self.launched, by["launcher"]),
        ]
        for c, mine in pairs:
            if c is None:
                continue
            for cid in mine:
                self.owners[cid] = c
            summary = summary + await c.recover(mine)
        return summary

    async def cleanup(self) -> int:
        """``--recover cleanup``: destroy everything an earlier run left (how many)."""
        total = 0
        for c in reversed(self.all()):
            n = await c.cleanup()
            if n and c is self.launched:
                log.info("--recover cleanup: killed %d leftover containers", n)
            total += n
        return total
