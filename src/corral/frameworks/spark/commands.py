"""The command lines of Spark's standalone daemons as corral tasks (pure).

Both run from a Spark distribution's ``bin/spark-class`` — by default the one inside the
installed ``pyspark`` package, which ships Spark's jars — with Java from the agent's
``PATH`` or ``JAVA_HOME``. Ports come from the offer, through the task's environment
(``PORT0``, ``PORT1``, ``PORT2``), and the daemons bind the agent's address
(``SPARK_LOCAL_IP``, from the task's ``LIBPROCESS_IP``), so two Spark clusters share a
machine without clashing (a port that is taken anyway fails the daemon: Spark's
``spark.port.maxRetries`` is 0, so it never moves to a port it was not given).
``exec`` makes the JVM the task's process, so a kill reaches it (and its process group: a
worker's executors) directly.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

WORKER_DAEMON_HEAP = 128  # MB: the worker JVM's own heap (SPARK_DAEMON_MEMORY)
WORKER_OVERHEAD = 384  # MB of a worker task's memory not offered to executors
MIN_MASTER_MEM = 256  # MB


class SparkNotFound(Exception):
    pass


def default_spark_home() -> Path:
    """The Spark distribution inside the installed ``pyspark`` package."""
    try:
        import pyspark
    except ImportError as exc:
        raise SparkNotFound(
            "pyspark is not installed: install it (pip install pyspark) or give --spark-home"
        ) from exc
    return Path(pyspark.__file__).parent


def check_spark_home(home: Path) -> str | None:
    """Why ``home`` is not a usable Spark distribution, or None."""
    if not (home / "bin" / "spark-class").is_file():
        return f"{home} has no bin/spark-class (not a Spark distribution)"
    if not (home / "jars").is_dir():
        return f"{home} has no jars/ directory (not a Spark distribution)"
    return None


@dataclass(frozen=True)
class SparkResources:
    """What each daemon's task gets: cpus and memory (MB)."""

    master_cpus: float = 0.5
    master_mem: int = 512
    worker_cpus: float = 1.0
    worker_mem: int = 1024

    @property
    def worker_cores(self) -> int:
        """Spark cores a worker offers (``--cores``): its cpus, at least one."""
        return max(1, int(self.worker_cpus))

    @property
    def worker_spark_memory(self) -> int:
        """Executor memory a worker offers (``--memory``): its task's memory minus the
        worker JVM's own."""
        return self.worker_mem - WORKER_OVERHEAD

    def problems(self) -> list[str]:
        out = []
        if self.master_cpus <= 0:
            out.append(f"master-cpus must be above 0, not {self.master_cpus:g}")
        if self.master_mem < MIN_MASTER_MEM:
            out.append(f"master-mem must be at least {MIN_MASTER_MEM} (MB), not {self.master_mem}")
        if self.worker_cpus <= 0:
            out.append(f"worker-cpus must be above 0, not {self.worker_cpus:g}")
        if self.worker_mem < WORKER_OVERHEAD + 128:
            out.append(
                f"worker-mem must be at least {WORKER_OVERHEAD + 128} (MB: {WORKER_OVERHEAD} for "
                f"the worker itself, the rest for executors), not {self.worker_mem}"
            )
        return out


def _env_prefix(home: Path, daemon_heap: int) -> str:
    return (
        f"export SPARK_HOME={shlex.quote(str(home))} "
        f"SPARK_DAEMON_MEMORY={daemon_heap}m SPARK_NO_DAEMONIZE=1 "
        'SPARK_LOCAL_IP="${LIBPROCESS_IP:-$HOST}" '
        # A port of the offer that is taken fails the task (and says so) instead of Spark
        # moving silently to the next port, which corral may have given to another task.
        'SPARK_DAEMON_JAVA_OPTS="-Dspark.port.maxRetries=0" '
        'SPARK_LOG_DIR="${MESOS_SANDBOX:-.}/logs" SPARK_PID_DIR="${MESOS_SANDBOX:-.}"; '
    )


def master_command(home: Path, res: SparkResources) -> str:
    """The Spark master on ``$HOST``: ``PORT0`` for ``spark://``, ``PORT1`` for its web UI
    (and ``/json/``), ``PORT2`` for its REST submission server (``--deploy-mode cluster``)."""
    spark_class = shlex.quote(str(home / "bin" / "spark-class"))
    heap = max(128, res.master_mem // 2)
    opts = "-Dspark.master.rest.port=$PORT2 -Dspark.master.rest.enabled=true"
    return (
        _env_prefix(home, heap)
        + f'export SPARK_MASTER_OPTS="{opts}"; '
        + f"exec {spark_class} org.apache.spark.deploy.master.Master "
        + '--host "$HOST" --port "$PORT0" --webui-port "$PORT1"'
    )


def worker_command(home: Path, res: SparkResources, master_url: str) -> str:
    """A Spark worker of ``master_url`` on ``$HOST``: ``PORT0`` for the worker, ``PORT1``
    for its web UI, its work (executors' files) under the task's sandbox."""
    spark_class = shlex.quote(str(home / "bin" / "spark-class"))
    return (
        _env_prefix(home, WORKER_DAEMON_HEAP)
        + f"exec {spark_class} org.apache.spark.deploy.worker.Worker {shlex.quote(master_url)} "
        + '--host "$HOST" --port "$PORT0" --webui-port "$PORT1" '
        + f"--cores {res.worker_cores} --memory {res.worker_spark_memory}m "
        + '--work-dir "${MESOS_SANDBOX:-.}/work"'
    )


__all__ = [
    "SparkNotFound",
    "SparkResources",
    "check_spark_home",
    "default_spark_home",
    "master_command",
    "worker_command",
]
