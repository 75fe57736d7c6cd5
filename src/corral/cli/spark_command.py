"""``corral spark``: Spark's standalone cluster on corral, with workers added while
applications wait for executors and removed when idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from corral.cli.common import fail, resolve_master, setup_logging
from corral.cli.framework_flags import check_master, state_at


def spark(
    master_flag: str | None = typer.Option(
        None,
        "--master",
        help="The corral master: HOST:PORT, or zk://h1:2181,h2:2181/corral (default: "
        "$CORRAL_MASTER, else the cluster `corral up` started, else 127.0.0.1:5050).",
    ),
    ip: str = typer.Option("127.0.0.1", "--ip", help="Address the status API listens on."),
    port: int = typer.Option(5070, "--port", help="Port of the status API (0: any free one)."),
    work_dir: str = typer.Option(
        "/var/lib/corral/spark",
        "--work-dir",
        help="The framework's store: a directory, or zk://host:port/path shared by instances.",
    ),
    spark_home: Path | None = typer.Option(
        None,
        "--spark-home",
        help="A Spark distribution on every agent (default: the installed pyspark package's).",
    ),
    min_workers: int = typer.Option(0, "--min-workers", help="Workers kept even when idle."),
    max_workers: int = typer.Option(4, "--max-workers", help="Workers at most."),
    idle_timeout: float = typer.Option(
        30.0, "--idle-timeout", help="Seconds a worker with no executor stays before removal."
    ),
    register_timeout: float = typer.Option(
        120.0,
        "--register-timeout",
        help="Seconds a launched worker may take to register with the Spark master.",
    ),
    worker_cpus: float = typer.Option(
        1.0, "--worker-cpus", help="cpus of each worker's task (Spark cores: the whole part)."
    ),
    worker_mem: int = typer.Option(
        1024,
        "--worker-mem",
        help="MB of each worker's task; executors get this minus 384 (the worker's own JVM).",
    ),
    master_cpus: float = typer.Option(0.5, "--master-cpus", help="cpus of the Spark master."),
    master_mem: int = typer.Option(512, "--master-mem", help="MB of the Spark master's task."),
    poll_interval: float = typer.Option(
        1.0, "--poll-interval", help="Seconds between two reads of the Spark master's JSON."
    ),
    url_file: Path | None = typer.Option(
        None, "--url-file", help="Write the spark:// URL here once the Spark master is up."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Say the Spark master's URLs as one JSON line on stdout."
    ),
    teardown: bool = typer.Option(
        True,
        "--teardown/--failover",
        help="On exit, kill the Spark daemons (default), or leave them for the next instance.",
    ),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run Spark's standalone master as a corral task, with workers added while applications
    wait for executors and removed when idle. Submit with spark-submit --master spark://..."""
    from corral.frameworks.spark.commands import (
        SparkNotFound,
        SparkResources,
        check_spark_home,
        default_spark_home,
    )
    from corral.frameworks.spark.daemon import run_spark
    from corral.frameworks.spark.framework import SparkFramework
    from corral.frameworks.spark.scaling import ScaleConfig

    setup_logging(log_level)
    master = resolve_master(master_flag, keep_zk=True)
    check_master(master)
    if spark_home is None:
        try:
            spark_home = default_spark_home()
        except SparkNotFound as exc:
            fail(f"--spark-home: {exc}")
    why = check_spark_home(spark_home)
    if why:
        fail(f"--spark-home: {why}")
    if not 0 <= port <= 65535:
        fail("--port must be between 0 and 65535")
    if poll_interval <= 0:
        fail("--poll-interval must be above 0")
    res = SparkResources(
        master_cpus=master_cpus,
        master_mem=master_mem,
        worker_cpus=worker_cpus,
        worker_mem=worker_mem,
    )
    scale = ScaleConfig(
        min_workers=min_workers,
        max_workers=max_workers,
        idle_timeout=idle_timeout,
        register_timeout=register_timeout,
        worker_memory=res.worker_spark_memory,
    )
    problems = res.problems() + scale.problems()
    if problems:
        fail("; ".join(f"--{p}" for p in problems))
    state = state_at(work_dir)
    fw = SparkFramework(spark_home, res, scale)
    raise typer.Exit(
        asyncio.run(
            run_spark(
                fw,
                master,
                state,
                host=ip,
                port=port,
                poll_interval=poll_interval,
                url_file=url_file,
                as_json=as_json,
                teardown=teardown,
            )
        )
    )
