"""The ``process`` containerizer: plain processes (each in its own session) with resource
limits, for hosts without usable cgroups.

Without cgroups the only per-process limits are rlimits. Each container gets
``RLIMIT_NPROC`` at ``--cgroups-pids-max`` (the stand-in for the linux containerizer's
``pids.max``; the kernel counts it per user, not per task), and whatever its
``ContainerInfo.rlimit_info`` asks for (Mesos's ``posix/rlimits``), which takes precedence.
An image (``container.mesos.image``) needs the linux containerizer.
"""

from __future__ import annotations

from corral.agent.containerizer.base import ContainerEventSink, LaunchSpec
from corral.agent.containerizer.launched import (
    LauncherContainerizer,
    LaunchRefused,
    Options,
    capped_default,
    merged,
    rlimits_of,
)
from corral.agent.images import ImageError, image_name
from corral.agent.launcher_client import LauncherClient


class ProcessContainerizer(LauncherContainerizer):
    name = "process"

    def __init__(self, launcher: LauncherClient, sink: ContainerEventSink, pids_max: int) -> None:
        super().__init__(launcher, sink)
        self.pids_max = pids_max

    async def options(self, spec: LaunchSpec) -> Options:
        try:
            if image_name(spec.container) is not None:
                raise ImageError(
                    "container.mesos.image needs the linux containerizer on this agent"
                )
        except ImageError as exc:
            raise LaunchRefused(str(exc)) from None
        defaults = [capped_default("NPROC", self.pids_max)] if self.pids_max else []
        return Options(rlimits=merged(defaults, rlimits_of(spec.container)))
