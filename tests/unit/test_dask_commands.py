"""What a dask task is: options checked, task specs, command lines (pure)."""

from __future__ import annotations

import pytest

from corral.integrations.dask import CorralCluster
from corral.integrations.dask.commands import (
    SchedulerOptions,
    WorkerOptions,
    check_resources,
    memory_limit_for,
    nthreads_for,
    parse_constraints,
    scheduler_address,
    scheduler_argv,
    scheduler_spec,
    worker_argv,
    worker_spec,
)
from corral.resources import scalars


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_threads_are_whole_cpus_at_least_one() -> None:
    assert nthreads_for(0.5) == 1
    assert nthreads_for(1.0) == 1
    assert nthreads_for(2.999) == 2
    assert nthreads_for(3.0) == 3
    assert nthreads_for(4.0, nthreads=8) == 8


def test_memory_limit_is_the_tasks_mem_in_bytes() -> None:
    assert memory_limit_for(1024) == 1024 * 2**20
    assert memory_limit_for(0.5) == 2**19


def test_worker_command_line_comes_from_the_tasks_resources() -> None:
    argv = worker_argv(
        "/usr/bin/python3",
        WorkerOptions(cpus=1, mem=512, extra_args=("--lifetime", "1h")),
        "tcp://h1:31000",
        "corral-4",
        "h2",
        (31010, 31011),
        scalars(cpus=2.5, mem=1536),  # what the task got (not the options)
    )
    assert argv[:4] == ["/usr/bin/python3", "-m", "distributed.cli.dask_worker", "tcp://h1:31000"]
    assert flag(argv, "--name") == "corral-4"
    assert flag(argv, "--nthreads") == "2"
    assert flag(argv, "--memory-limit") == str(1536 * 2**20)
    assert flag(argv, "--host") == "h2"
    assert flag(argv, "--worker-port") == "31010"
    assert flag(argv, "--nanny-port") == "31011"
    assert "--no-dashboard" in argv  # no port outside the task's own
    assert argv[-2:] == ["--lifetime", "1h"]


def test_worker_without_nanny_takes_one_port() -> None:
    opts = WorkerOptions(nanny=False, nthreads=3)
    assert worker_spec(opts).ports == 1
    argv = worker_argv("py", opts, "tcp://a:1", "w", "a", (5,), scalars(cpus=1, mem=64))
    assert "--no-nanny" in argv and "--nanny-port" not in argv
    assert flag(argv, "--nthreads") == "3"


def test_specs_carry_resources_ports_and_constraints() -> None:
    cons = parse_constraints("worker_constraints", ["hostname:UNIQUE", ["rack", "CLUSTER", "a"]])
    w = worker_spec(WorkerOptions(cpus=2, mem=2048, disk=100, constraints=cons))
    assert (w.group, w.ports) == ("dask-worker", 2)
    assert w.resources == scalars(cpus=2, mem=2048, disk=100)
    assert [str(c) for c in w.constraints] == ["hostname:UNIQUE", "rack:CLUSTER:a"]
    assert scheduler_spec(SchedulerOptions()).ports == 1
    assert scheduler_spec(SchedulerOptions(dashboard=True)).ports == 2


def test_scheduler_command_line_and_address() -> None:
    argv = scheduler_argv("py", SchedulerOptions(), "h1", (31000,))
    assert argv[2:] == ["distributed.cli.dask_scheduler", "--host", "h1", "--port", "31000",
                        "--no-dashboard"]  # fmt: skip
    argv = scheduler_argv("py", SchedulerOptions(dashboard=True), "h1", (31000, 31001))
    assert flag(argv, "--dashboard-address") == "h1:31001"
    assert scheduler_address("h1", (31000, 31001)) == "tcp://h1:31000"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("worker", 0, 512, 0), "worker_cpus must be at least 0.01, got 0"),
        (("worker", 1, 8, 0), "worker_mem must be at least 32, got 8"),
        (("scheduler", 1, 512, -1), "scheduler_disk must be at least 0, got -1"),
        (("worker", "2", 512, 0), "worker_cpus must be a number, got '2'"),
        (("worker", float("nan"), 512, 0), "worker_cpus must be a number"),
    ],
)
def test_bad_resources_name_the_parameter(
    args: tuple[str, float, float, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_resources(*args)


def test_bad_constraint_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="worker_constraints: constraint"):
        parse_constraints("worker_constraints", ["rack:NEAR:a"])
    with pytest.raises(ValueError, match="scheduler_constraints"):
        parse_constraints("scheduler_constraints", "rack")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"worker_cpus": -1}, "worker_cpus"),
        ({"worker_nthreads": 0}, "worker_nthreads must be a whole number >= 1"),
        ({"n_workers": -2}, "n_workers must be a whole number >= 0"),
        ({"worker_constraints": ["hostname:SOMETIMES"]}, "worker_constraints"),
        ({"failover_timeout": -1}, "failover_timeout must be >= 0 seconds"),
        ({"failover_timeout": "1m"}, "failover_timeout must be a number"),
    ],
)
def test_cluster_refuses_bad_options_before_connecting(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CorralCluster("127.0.0.1:1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="master must be"):
        CorralCluster("")
