"""The ``linux`` containerizer: the launcher's children in cgroups of their own (memory, cpu,
pids; v1 or v2) and, for tasks, in pid, mount, ipc and uts namespaces (and a network one with
``--isolation network/private``), optionally in an image's root filesystem. Custom executors
get cgroups but stay in the host's pid namespace: they speak for their tasks by pid."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from corral.agent import launcher_protocol as lp
from corral.agent.cgroups import Cgroups
from corral.agent.containerizer.base import (
    ContainerEventSink,
    ContainerizerConfig,
    LaunchSpec,
    Statistics,
)
from corral.agent.containerizer.launched import (
    LauncherContainerizer,
    LaunchRefused,
    Options,
    rlimits_of,
)
from corral.agent.images import ImageError, image_name, provision
from corral.agent.launcher_client import LauncherClient
from corral.resources import Resources


def cgroup_limits(res: Resources, enable_cfs: bool, pids_max: int) -> lp.CgroupLimits:
    """What the linux containerizer enforces for a container's resources."""
    cpus, mem = res.scalar("cpus"), res.scalar("mem")
    return lp.CgroupLimits(
        mem_bytes=int(mem * (1 << 20)) if mem > 0 else None,
        cpu_shares=max(2, int(cpus * 1024)) if cpus > 0 else None,
        cfs_quota_us=int(cpus * 100_000) if cpus > 0 and enable_cfs else None,
        pids_max=pids_max or None,
    )


class LinuxContainerizer(LauncherContainerizer):
    name = "linux"

    def __init__(
        self, launcher: LauncherClient, sink: ContainerEventSink, config: ContainerizerConfig
    ) -> None:
        super().__init__(launcher, sink)
        self.config = config

    def limits(self, res: Resources) -> lp.CgroupLimits:
        c = self.config
        return cgroup_limits(res, c.cgroups_enable_cfs, c.cgroups_pids_max)

    async def options(self, spec: LaunchSpec) -> Options:
        limits = self.limits(spec.resources)
        rlimits = rlimits_of(spec.container)
        if spec.executor is not None:
            # cgroups, but the host's pid namespace: an executor speaks for its tasks by pid, as
            # under Mesos without the namespaces/pid isolator.
            return Options(cgroups=limits, rlimits=rlimits)
        try:
            rootfs = await self.rootfs(spec)
        except ImageError as exc:
            raise LaunchRefused(str(exc)) from None
        private = "network/private" in self.config.isolation
        ports = (
            [p for b, e in spec.resources.port_ranges() for p in range(b, e + 1)] if private else []
        )
        return Options(
            cgroups=limits,
            namespaces=True,
            private_network=private,
            map_ports=ports,
            rootfs=rootfs,
            rlimits=rlimits,
        )

    async def rootfs(self, spec: LaunchSpec) -> str:
        """The root filesystem the task asked for, ready to use; "" for the host's."""
        name = image_name(spec.container)
        if name is None:
            return ""
        images_dir = self.config.images_dir
        if images_dir is None:
            raise ImageError("container.mesos.image needs the agent's --images-dir")
        cache = self.config.work_dir / "images"
        return str(await asyncio.to_thread(provision, images_dir, cache, name))

    def update(self, container_id: str, resources: Resources) -> None:
        self.launcher.send(lp.UpdateRequest(id=container_id, cgroups=self.limits(resources)))

    async def usage(self, container_ids: Collection[str]) -> dict[str, Statistics]:
        return {cid: Cgroups(cid).stats() for cid in container_ids}
