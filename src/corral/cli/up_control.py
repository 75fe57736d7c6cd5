"""What keeps `corral up` from getting stuck: one cluster per directory (locked), `corral down`
to stop a cluster started elsewhere, and what to do when one of its processes exits."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import typer

from corral.cli.common import CLUSTER_FILE, fail

LOCK_NAME = "up.lock"


class DirectoryBusy(Exception):
    def __init__(self, work_dir: Path, pid: int | None) -> None:
        self.work_dir = work_dir
        self.pid = pid
        who = f"corral up (pid {pid})" if pid else "another corral up"
        super().__init__(
            f"--work-dir {work_dir} is used by {who}: stop it with `corral down --work-dir "
            f"{work_dir}`, or give this cluster its own --work-dir (and ports)"
        )


class WorkDirLock:
    """An exclusive ``flock`` on ``<work_dir>/up.lock`` for as long as the cluster runs; the
    file names the holder's pid. The kernel drops the lock when the process dies, so a crash
    never leaves a directory locked."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.path = work_dir / LOCK_NAME
        self.file: IO[str] | None = None

    def acquire(self) -> WorkDirLock:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            text = f.read().strip()
            f.close()
            raise DirectoryBusy(self.work_dir, int(text) if text.isdigit() else None) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self.file = f
        return self

    def release(self) -> None:
        if self.file is not None:
            self.file.seek(0)
            self.file.truncate()
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


def holder(work_dir: Path) -> int | None:
    """The pid of the `corral up` holding ``work_dir``'s lock, or None if nobody holds it."""
    try:
        lock = WorkDirLock(work_dir).acquire()
    except DirectoryBusy as busy:
        return busy.pid
    except OSError:
        return None
    lock.release()
    return None


# ---------------------------------------------------------------------- supervision (pure)
@dataclass(frozen=True)
class Exits:
    """What ``corral up`` does about processes that exited: ``stop`` the cluster or carry on,
    and what it says."""

    stop: bool
    message: str


def after_exits(dead: list[str], masters: list[str]) -> Exits:
    """``dead``: the names of the cluster's processes that exited; ``masters``: the names of
    all its masters. With several masters, losing some (not all) of them is a failover: the
    rest elect a leader and the cluster carries on. Anything else stops it."""
    dead_masters = [d for d in dead if d in masters]
    others = [d for d in dead if d not in masters]
    if not others and dead_masters and len(dead_masters) < len(masters):
        left = len(masters) - len(dead_masters)
        return Exits(
            False,
            f"{', '.join(dead_masters)} exited; {left} of {len(masters)} masters remain and "
            "elect a leader (failover)",
        )
    return Exits(True, f"{', '.join(dead)} exited; stopping the cluster")


# ---------------------------------------------------------------------- corral down
def down(
    work_dir: Path | None = typer.Option(
        None,
        "--work-dir",
        help="The cluster's --work-dir (default: the last cluster `corral up` started).",
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for it to stop."),
) -> None:
    """Stop a cluster started by `corral up` in another terminal (as Ctrl-C there would)."""
    if work_dir is None:
        try:
            info = json.loads(CLUSTER_FILE.read_text())
            work_dir = Path(info["work_dir"])
        except (OSError, ValueError, KeyError):
            fail(f"no cluster is recorded in {CLUSTER_FILE}; name it with --work-dir", 1)
    pid = holder(work_dir)
    if pid is None:
        fail(f"no corral up runs with --work-dir {work_dir}", 1)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        fail(f"corral up (pid {pid}) is already gone", 1)
    print(f"stopping corral up (pid {pid}, --work-dir {work_dir})...", flush=True)
    deadline = time.monotonic() + timeout
    while holder(work_dir) == pid:
        if time.monotonic() > deadline:
            fail(f"corral up (pid {pid}) did not stop within --timeout {timeout:g} s", 1)
        time.sleep(0.1)
    print("stopped.")
