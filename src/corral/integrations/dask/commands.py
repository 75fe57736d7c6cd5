"""What a dask scheduler or worker task is (pure): the options a user gives, checked; the
``TaskSpec`` the toolkit places; the command line a task runs, with ``--nthreads`` and
``--memory-limit`` taken from the resources the task was given."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from corral.resources import Resources, scalars
from corral.scheduler_client import Constraint, TaskSpec

SCHEDULER_GROUP = "dask-scheduler"
WORKER_GROUP = "dask-worker"
SCHEDULER_MODULE = "distributed.cli.dask_scheduler"
WORKER_MODULE = "distributed.cli.dask_worker"
MIB = 2**20

ConstraintText = str | Sequence[str]


@dataclass(frozen=True)
class TaskOptions:
    """One kind of task (the scheduler, or every worker): its resources, placement and
    extra command-line arguments."""

    cpus: float = 1.0
    mem: float = 1024.0  # MB, as corral counts memory
    disk: float = 0.0
    constraints: tuple[Constraint, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerOptions(TaskOptions):
    nthreads: int | None = None  # None: from the task's cpus
    nanny: bool = True
    death_timeout: float = 60.0  # a worker whose scheduler is gone exits after this


@dataclass(frozen=True)
class SchedulerOptions(TaskOptions):
    dashboard: bool = False


def parse_constraints(name: str, items: Sequence[ConstraintText]) -> tuple[Constraint, ...]:
    """Marathon-style constraints (``"hostname:UNIQUE"`` or ``["rack", "CLUSTER", "a"]``);
    a ValueError names the parameter and the bad constraint."""
    if isinstance(items, str):
        items = [items]
    out = []
    for item in items:
        try:
            out.append(Constraint.parse(item))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return tuple(out)


def check_resources(prefix: str, cpus: float, mem: float, disk: float) -> None:
    """A ValueError naming the parameter (``worker_cpus`` ...) for a value that cannot be."""
    for what, value, minimum in (("cpus", cpus, 0.01), ("mem", mem, 32.0), ("disk", disk, 0.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(f"{prefix}_{what} must be a number, got {value!r}")
        if value < minimum:
            raise ValueError(f"{prefix}_{what} must be at least {minimum:g}, got {value!r}")


def nthreads_for(cpus: float, nthreads: int | None = None) -> int:
    """Threads of a worker given ``cpus``: one per whole cpu, at least one."""
    if nthreads is not None:
        return nthreads
    return max(1, math.floor(cpus + 1e-9))


def memory_limit_for(mem: float) -> int:
    """The worker's ``--memory-limit`` in bytes for a task of ``mem`` MB."""
    return int(mem * MIB)


def task_resources(opts: TaskOptions) -> Resources:
    return scalars(cpus=opts.cpus, mem=opts.mem, disk=opts.disk)


def worker_spec(opts: WorkerOptions) -> TaskSpec:
    """Every worker task: its resources, two ports (worker and nanny; one without a nanny),
    the constraints counted over all the cluster's workers together."""
    return TaskSpec(
        name=WORKER_GROUP,
        group=WORKER_GROUP,
        resources=task_resources(opts),
        ports=2 if opts.nanny else 1,
        constraints=opts.constraints,
    )


def scheduler_spec(opts: SchedulerOptions) -> TaskSpec:
    """The scheduler task: its port, and the dashboard's when it has one."""
    return TaskSpec(
        name=SCHEDULER_GROUP,
        group=SCHEDULER_GROUP,
        resources=task_resources(opts),
        ports=2 if opts.dashboard else 1,
        constraints=opts.constraints,
    )


def scheduler_address(host: str, ports: Sequence[int]) -> str:
    return f"tcp://{host}:{ports[0]}"


def scheduler_argv(
    python: str, opts: SchedulerOptions, host: str, ports: Sequence[int]
) -> list[str]:
    """``dask scheduler`` on the task's first port (its dashboard on the second)."""
    argv = [python, "-m", SCHEDULER_MODULE, "--host", host, "--port", str(ports[0])]
    if opts.dashboard and len(ports) > 1:
        argv += ["--dashboard-address", f"{host}:{ports[1]}"]
    else:
        argv += ["--no-dashboard"]
    return [*argv, *opts.extra_args]


def worker_argv(
    python: str,
    opts: WorkerOptions,
    scheduler: str,
    name: str,
    host: str,
    ports: Sequence[int],
    resources: Resources,
) -> list[str]:
    """``dask worker`` named ``name``, with the threads and memory of ``resources`` (what
    the task was given), listening on the task's ports only."""
    argv = [
        python,
        "-m",
        WORKER_MODULE,
        scheduler,
        "--name",
        name,
        "--nthreads",
        str(nthreads_for(resources.scalar("cpus"), opts.nthreads)),
        "--memory-limit",
        str(memory_limit_for(resources.scalar("mem"))),
        "--host",
        host,
        "--worker-port",
        str(ports[0]),
        "--no-dashboard",
        "--local-directory",
        "dask-scratch",  # in the task's sandbox (its working directory)
        "--death-timeout",
        f"{opts.death_timeout:g}",
    ]
    if opts.nanny:
        argv += ["--nanny", "--nanny-port", str(ports[1])]
    else:
        argv += ["--no-nanny"]
    return [*argv, *opts.extra_args]


__all__ = [
    "SCHEDULER_GROUP",
    "WORKER_GROUP",
    "SchedulerOptions",
    "TaskOptions",
    "WorkerOptions",
    "check_resources",
    "memory_limit_for",
    "nthreads_for",
    "parse_constraints",
    "scheduler_address",
    "scheduler_argv",
    "scheduler_spec",
    "worker_argv",
    "worker_spec",
]
