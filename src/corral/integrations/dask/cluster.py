"""``CorralCluster``: a dask ``SpecCluster`` whose scheduler and workers are corral tasks.

dask's own machinery does the deciding (``scale``, ``adapt``, retiring workers by name);
this module only says how a scheduler or a worker is started and stopped: as a task of a
framework that the cluster object registers with the corral master (see ``framework.py``).
A worker's ``start`` returns as soon as corral has the request (as a batch-queue job's
would); its process connects to the scheduler once a fitting offer came and it started.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from distributed.deploy.spec import ProcessInterface, SpecCluster

from corral.integrations.dask.commands import (
    ConstraintText,
    SchedulerOptions,
    WorkerOptions,
    check_resources,
    parse_constraints,
)
from corral.integrations.dask.framework import KILL_GRACE, CorralDask, DaskFramework


class CorralScheduler(ProcessInterface):
    """The scheduler as a corral task; ``address`` once it accepts connections."""

    def __init__(self, corral: CorralDask, timeout: float = 120.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.corral = corral
        self.timeout = timeout

    async def start(self) -> None:
        await self.corral.start()
        self.address = await self.corral.start_scheduler(self.timeout)
        await super().start()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self.corral.release("scheduler")
        await super().close()  # type: ignore[no-untyped-call]


class CorralWorker(ProcessInterface):
    """One named worker as a corral task (started, or waiting for room)."""

    def __init__(self, scheduler: str, name: str, corral: CorralDask) -> None:
        super().__init__(scheduler, name)  # type: ignore[no-untyped-call]
        self.scheduler = scheduler
        self.name = name
        self.corral = corral

    async def start(self) -> None:
        await self.corral.start_worker(self.name, self.scheduler)
        await super().start()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self.corral.release(self.name, wait=KILL_GRACE + 5.0)
        await super().close()  # type: ignore[no-untyped-call]


class CorralCluster(SpecCluster):
    """A dask cluster on corral.

    ``master`` is ``HOST:PORT`` or ``zk://host:port,.../path``. Every worker is a task of
    ``worker_cpus`` cpus and ``worker_mem`` MB; its ``--nthreads`` (one per whole cpu,
    unless ``worker_nthreads``) and ``--memory-limit`` come from what the task was given.
    ``worker_constraints`` are Marathon-style (``"hostname:UNIQUE"``, ``"rack:CLUSTER:a"``),
    counted over the cluster's workers. Use ``scale(n)`` or ``adapt(minimum, maximum)``;
    ``pending_reasons()`` says why the workers that wait for room cannot be placed.

    The framework registers with ``failover_timeout`` 0 (seconds): when this process dies,
    or loses the master for any time at all, the master kills the scheduler and workers. A
    larger value lets the cluster ride out a master failover, and leaves the tasks running
    that long after a crash.
    """

    def __init__(
        self,
        master: str,
        *,
        n_workers: int = 0,
        worker_cpus: float = 1.0,
        worker_mem: float = 1024.0,
        worker_disk: float = 0.0,
        worker_nthreads: int | None = None,
        worker_constraints: Sequence[ConstraintText] = (),
        worker_env: Mapping[str, str] | None = None,
        worker_args: Sequence[str] = (),
        worker_nanny: bool = True,
        scheduler_cpus: float = 1.0,
        scheduler_mem: float = 1024.0,
        scheduler_constraints: Sequence[ConstraintText] = (),
        scheduler_env: Mapping[str, str] | None = None,
        scheduler_args: Sequence[str] = (),
        dashboard: bool | None = None,
        python: str = sys.executable,
        role: str = "*",
        framework_name: str = "dask",
        connect_timeout: float = 30.0,
        scheduler_timeout: float = 120.0,
        max_worker_failures: int = 3,
        failover_timeout: float = 0.0,
        asynchronous: bool = False,
        loop: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(master, str) or not master:
            raise ValueError(f"master must be 'HOST:PORT' or 'zk://...', got {master!r}")
        check_resources("worker", worker_cpus, worker_mem, worker_disk)
        check_resources("scheduler", scheduler_cpus, scheduler_mem, 0.0)
        if worker_nthreads is not None and (
            not isinstance(worker_nthreads, int) or worker_nthreads < 1
        ):
            raise ValueError(
                f"worker_nthreads must be a whole number >= 1, got {worker_nthreads!r}"
            )
        if not isinstance(n_workers, int) or n_workers < 0:
            raise ValueError(f"n_workers must be a whole number >= 0, got {n_workers!r}")
        if isinstance(failover_timeout, bool) or not isinstance(failover_timeout, int | float):
            raise ValueError(f"failover_timeout must be a number, got {failover_timeout!r}")
        if not failover_timeout >= 0:
            raise ValueError(f"failover_timeout must be >= 0 seconds, got {failover_timeout!r}")
        if dashboard is None:
            dashboard = importlib.util.find_spec("bokeh") is not None
        worker = WorkerOptions(
            cpus=worker_cpus,
            mem=worker_mem,
            disk=worker_disk,
            nthreads=worker_nthreads,
            constraints=parse_constraints("worker_constraints", worker_constraints),
            env=dict(worker_env or {}),
            extra_args=tuple(worker_args),
            nanny=worker_nanny,
        )
        sched = SchedulerOptions(
            cpus=scheduler_cpus,
            mem=scheduler_mem,
            constraints=parse_constraints("scheduler_constraints", scheduler_constraints),
            env=dict(scheduler_env or {}),
            extra_args=tuple(scheduler_args),
            dashboard=dashboard,
        )
        self.master = master
        self.framework = DaskFramework(
            framework_name,
            python,
            sched,
            worker,
            role=role,
            max_worker_failures=max_worker_failures,
        )
        self.framework.failover_timeout = float(failover_timeout)
        self.corral = CorralDask(master, self.framework, connect_timeout=connect_timeout)
        worker_spec = {"cls": CorralWorker, "options": {"corral": self.corral}}
        super().__init__(  # type: ignore[no-untyped-call]
            scheduler={
                "cls": CorralScheduler,
                "options": {"corral": self.corral, "timeout": scheduler_timeout},
            },
            worker=worker_spec,
            workers={self._new_worker_name(i): worker_spec for i in range(n_workers)},
            asynchronous=asynchronous,
            loop=loop,
            name=name,
            **kwargs,
        )

    def _new_worker_name(self, worker_number: int) -> str:
        return f"corral-{worker_number}"

    async def _close(self) -> None:
        try:
            await super()._close()  # type: ignore[no-untyped-call]
        finally:
            await self.corral.stop()

    def pending_reasons(self) -> dict[str, str]:
        """Why each process that waits for room (by name: ``scheduler``, ``corral-3``) has
        not been placed, in the toolkit's words (``needs cpus 2, largest free on any agent
        is 1``); empty when nothing waits."""
        return self._on_loop(self.corral.reasons)

    def tasks(self) -> dict[str, str]:
        """The corral task id of each process that has one, by name."""
        return self._on_loop(self.corral.tasks)

    def _on_loop(self, query: Callable[[], dict[str, str]]) -> dict[str, str]:
        """Read the framework's state on the loop that changes it (a synchronous cluster's
        loop runs in a thread of its own)."""
        if self.asynchronous:
            return query()

        async def read() -> dict[str, str]:
            return query()

        result: dict[str, str] = self.sync(read)  # type: ignore[no-untyped-call]
        return result

    @property
    def framework_id(self) -> str | None:
        r = self.corral.runner
        return r.core.framework_id if r is not None and r.core is not None else None


__all__ = ["CorralCluster", "CorralScheduler", "CorralWorker"]
