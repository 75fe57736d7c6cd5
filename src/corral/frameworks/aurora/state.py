"""The front end's durable state: its jobs (the spec of each version) and their updates, in
one JSON file written whole and atomically (temporary file, fsync, rename) after every
change, so a restart of the front end resumes every update where it stood.

Why a file and not the toolkit's store: the front end is not a Mesos framework (it never
subscribes, so it has no framework id to keep, and it runs as one process), and its state
is small (one record per job plus its update); the instances themselves live in the
services framework, which keeps them in its own HA store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

from corral.frameworks.aurora.spec import JobSpec
from corral.frameworks.aurora.update import UpdateState


class JobRecord(msgspec.Struct, kw_only=True):
    key: str
    kind: Literal["service", "cron"]
    version: str  # the spec the job has (the target of the last update)
    specs: dict[str, JobSpec]  # by version: the current one and the one before it
    created: float
    # failures seen per instance at its current version (task ids), for max_task_failures
    failures: dict[int, list[str]] = {}
    stopped: list[int] = []  # instances stopped after more than max_task_failures

    @property
    def spec(self) -> JobSpec:
        return self.specs[self.version]


class FrontState(msgspec.Struct):
    jobs: dict[str, JobRecord] = {}
    updates: dict[str, UpdateState] = {}  # the last update of each job (ended ones too)


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> FrontState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return FrontState()
        return msgspec.json.decode(raw, type=FrontState)

    def save(self, state: FrontState) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(msgspec.json.encode(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
