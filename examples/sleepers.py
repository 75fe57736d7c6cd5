"""An example framework on the corral toolkit: keep N ``sleep`` tasks alive.

Run two copies with the same ``--state`` and they elect one leader; kill the leader and the
other takes over with the same framework id, reconciles, and goes on keeping N tasks alive
(none lost, none launched twice)::

    python examples/sleepers.py --master 127.0.0.1:5050 --state /tmp/sleepers --count 3
    python examples/sleepers.py --master zk://127.0.0.1:2181/corral \\
        --state zk://127.0.0.1:2181/fw --count 3 --constraint hostname:UNIQUE
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from corral.resources import scalars
from corral.scheduler_client.placement import Constraint, TaskSpec
from corral.scheduler_client.planner import Goal
from corral.scheduler_client.toolkit import Framework, Runner
from corral.scheduler_client.tracker import TrackedTask, Unknown
from corral.wire.tasks import TaskStatus

log = logging.getLogger("sleepers")


class Sleepers(Framework):
    """The decisions, and nothing else: what should run."""

    name = "sleepers"
    unknown_tasks = Unknown.ADOPT  # a sleeper the master knows and we forgot is still ours

    def __init__(
        self,
        count: int,
        *,
        cpus: float = 0.1,
        mem: float = 32,
        seconds: int = 3600,
        constraints: Sequence[Constraint] = (),
    ) -> None:
        self.count = count
        self.spec = TaskSpec(
            name="sleeper",
            group="sleeper",
            resources=scalars(cpus=cpus, mem=mem),
            constraints=tuple(constraints),
        )
        self.command = f"sleep {seconds}"

    def desired(self) -> list[Goal]:
        return [Goal(self.spec, self.count, command=self.command, kill_grace_period=1.0)]

    def on_update(self, task: TrackedTask, status: TaskStatus) -> None:
        log.info("task %s is %s", task.task_id, status.state)

    def on_unplaced(self, group: str, reason: str) -> None:
        log.warning("cannot place a %s: %s", group, reason)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--master", required=True, help="host:port or zk://.../path")
    ap.add_argument("--state", required=True, help="a directory (SQLite) or zk://.../path")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--cpus", type=float, default=0.1)
    ap.add_argument("--mem", type=float, default=32)
    ap.add_argument("--constraint", action="append", default=[], help="e.g. hostname:UNIQUE")
    ap.add_argument("--lease-ttl", type=float, default=5.0, help="SQLite lease, seconds")
    ap.add_argument("--zk-session-timeout", type=float, default=10.0)
    args = ap.parse_args(argv)
    if args.count < 0:
        ap.error("--count must be 0 or more")
    try:
        constraints = [Constraint.parse(c) for c in args.constraint]
    except ValueError as exc:
        ap.error(f"--constraint: {exc}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    framework = Sleepers(args.count, cpus=args.cpus, mem=args.mem, constraints=constraints)
    runner = Runner(
        framework,
        args.master,
        args.state,
        lease_ttl=args.lease_ttl,
        session_timeout=args.zk_session_timeout,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.request_stop)
        await runner.run()

    asyncio.run(run())
    return 1 if runner.fenced else 0


if __name__ == "__main__":
    sys.exit(main())
