"""Dask on corral against dask's own LocalCluster, in one run.

* **throughput**: 10,000 tiny tasks (``client.map`` of ``x + 1``, gathered) on ``--workers``
  worker processes started as corral tasks by ``CorralCluster`` (each 1 cpu, 1 thread, with
  a nanny), and on ``distributed.LocalCluster`` with the same number of worker processes
  (1 thread each, nannies); best and median of ``--runs``.
* **adapt latency**: with ``adapt(minimum=0, maximum=--workers, interval=--interval)`` and
  no worker, the time from submitting work (the demand) to the first corral worker
  connected to the scheduler, ``--adapt-runs`` times (the cluster shrinks back to 0 in
  between). Beside it, in the same run: ``scale(1)`` to the first worker connected (no
  adaptive interval) on corral, and the same on dask's LocalCluster (a local worker
  process start: the baseline).

    python bench/dask.py [--workers 2] [--tasks 10000] [--runs 3] [--adapt-runs 3]
                         [--interval 0.1] [--json]

A local corral cluster (one master, one agent) is started and stopped by the program.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time
from typing import Any

# Run as ``python bench/dask.py``, this file's directory comes first on sys.path, and this
# file would stand in for the ``dask`` package: take the directory out before importing it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

from distributed import Client, LocalCluster

from corral.integrations.dask import CorralCluster
from corral.testing import LocalCluster as CorralLocal
from corral.testing import wait_until


def inc(x: int) -> int:
    return x + 1


def throughput(client: Client, tasks: int, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        results = client.gather(client.map(inc, range(tasks), pure=False))
        out.append(time.perf_counter() - t0)
        assert results[-1] == tasks
    return out


def first_worker(client: Client, start: float) -> float:
    client.wait_for_workers(1, timeout=120)
    return time.perf_counter() - start


def no_workers(client: Client) -> None:
    wait_until(lambda: not client.scheduler_info()["workers"], 60, 0.05, "workers to retire")


def adapt_latency(
    cluster: CorralCluster, client: Client, runs: int, interval: float
) -> list[float]:
    cluster.adapt(minimum=0, maximum=1, interval=f"{interval}s", wait_count=2, target_duration="1s")
    out = []
    for _ in range(runs):
        no_workers(client)
        t0 = time.perf_counter()
        fut = client.submit(inc, 1, pure=False)
        out.append(first_worker(client, t0))
        assert fut.result() == 2
        del fut
    cluster.adapt(minimum=0, maximum=0, interval=f"{interval}s", wait_count=1)
    no_workers(client)
    return out


def scale_latency(cluster: Any, client: Client, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        cluster.scale(0)
        no_workers(client)
        t0 = time.perf_counter()
        cluster.scale(1)
        out.append(first_worker(client, t0))
    cluster.scale(0)
    return out


def fmt(xs: list[float], unit: float = 1.0, digits: int = 2) -> str:
    return (
        f"best {min(xs) * unit:.{digits}f}  median {statistics.median(xs) * unit:.{digits}f}"
        f"  (n={len(xs)})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--adapt-runs", type=int, default=3)
    ap.add_argument("--interval", type=float, default=0.1, help="adapt interval, seconds")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    res: dict[str, Any] = {"workers": args.workers, "tasks": args.tasks}
    cpus = args.workers + 1
    base = random.randrange(20000, 29000, 100)  # not 31000-32000, where other clusters are
    resources = f"cpus:{cpus};mem:16384;ports:[{base}-{base + 99}]"
    with (
        CorralLocal(1, agent_resources=resources) as corral,
        CorralCluster(
            corral.master,
            n_workers=args.workers,
            worker_cpus=1,
            worker_mem=2048,
            scheduler_cpus=1,
            scheduler_mem=2048,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(args.workers, timeout=120)
        throughput(client, 500, 1)  # warm up
        res["corral"] = throughput(client, args.tasks, args.runs)
        res["corral_scale"] = scale_latency(cluster, client, args.adapt_runs)
        res["corral_adapt"] = adapt_latency(cluster, client, args.adapt_runs, args.interval)
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        client.wait_for_workers(args.workers, timeout=120)
        throughput(client, 500, 1)
        res["local"] = throughput(client, args.tasks, args.runs)
        res["local_scale"] = scale_latency(local, client, args.adapt_runs)
    if args.json:
        print(json.dumps(res))
        return 0
    n, w = args.tasks, args.workers
    print(f"{n} tiny tasks, {w} worker processes (1 thread each); seconds, tasks/s")
    for key, label in (("corral", "CorralCluster (corral tasks)"), ("local", "dask LocalCluster")):
        xs = res[key]
        print(f"  {label:40} {fmt(xs)} s   {n / statistics.median(xs):,.0f} tasks/s (median)")
    print("time to the first worker connected, seconds")
    print(f"  {'corral: adapt demand (interval ' + str(args.interval) + ' s)':40} "
          f"{fmt(res['corral_adapt'])}")  # fmt: skip
    print(f"  {'corral: scale(1)':40} {fmt(res['corral_scale'])}")
    print(f"  {'dask LocalCluster: scale(1)':40} {fmt(res['local_scale'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
