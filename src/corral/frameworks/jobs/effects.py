"""What the jobs core asks its shell to do: the store writes (in order) and REVIVE.

``JobsCore``'s methods return lists of these; ``framework.JobsShell`` carries them out. A
``PutRun`` with ``launchable`` set makes that run's group launchable once it is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.frameworks.jobs.model import Job


@dataclass(frozen=True)
class PutJob:
    job: Job


@dataclass(frozen=True)
class DeleteJob:
    name: str  # the job, its state and all its runs


@dataclass(frozen=True)
class PutState:
    name: str
    data: bytes


@dataclass(frozen=True)
class PutRun:
    job: str
    run_id: str
    data: bytes
    launchable: str = ""  # the group that may get a task once this is written


@dataclass(frozen=True)
class TrimRuns:
    job: str
    keep: int
    active: tuple[str, ...]


@dataclass(frozen=True)
class Revive:
    pass


Effect = PutJob | DeleteJob | PutState | PutRun | TrimRuns | Revive


__all__ = ["DeleteJob", "Effect", "PutJob", "PutRun", "PutState", "Revive", "TrimRuns"]
