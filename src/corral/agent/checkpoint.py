"""The agent's checkpoint under ``<work_dir>/meta``: its id, and the tasks and executors it runs.

An append-only journal of small JSON records (launch, forget), compacted on recovery. Together
with the status-update journal and the launcher's memory of exit statuses, it lets a restarted
agent re-adopt every running task and report the ones that ended while it was down.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import msgspec

from corral.agent.journal import Journal
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import ExecutorInfo, TaskInfo


class TaskRecord(msgspec.Struct, tag="task", tag_field="k", omit_defaults=True):
    framework: FrameworkInfo
    task: TaskInfo
    sandbox: str
    container_id: str | None = None
    executor_id: str | None = None


class ExecutorRecord(msgspec.Struct, tag="executor", tag_field="k", omit_defaults=True):
    framework: FrameworkInfo
    executor: ExecutorInfo
    sandbox: str
    container_id: str
    kind: str


class ForgetTask(msgspec.Struct, tag="forget_task", tag_field="k"):
    framework_id: str
    task_id: str


class ForgetExecutor(msgspec.Struct, tag="forget_executor", tag_field="k"):
    framework_id: str
    executor_id: str


Record = TaskRecord | ExecutorRecord | ForgetTask | ForgetExecutor


@dataclass
class Recovered:
    agent_id: str | None
    tasks: list[TaskRecord]
    executors: list[ExecutorRecord]


def _fid(info: FrameworkInfo) -> str:
    return info.id.value if info.id else ""


class Checkpoint:
    def __init__(self, meta_dir: Path) -> None:
        self.dir = meta_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.journal_path = meta_dir / "containers.log"
        self._journal: Journal[Record] = Journal(self.journal_path, Record)

    # ------------------------------------------------------------------ agent id
    def agent_id(self) -> str | None:
        try:
            return str(json.loads((self.dir / "agent.json").read_text())["agent_id"])
        except (OSError, ValueError, KeyError):
            return None

    def save_agent_id(self, agent_id: str | None) -> None:
        path = self.dir / "agent.json"
        if agent_id is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"agent_id": agent_id}))
        os.replace(tmp, path)

    # ------------------------------------------------------------------ journal
    def _write(self, rec: Record) -> None:
        self._journal.append(rec)

    def task(self, rec: TaskRecord) -> None:
        self._write(rec)

    def executor(self, rec: ExecutorRecord) -> None:
        self._write(rec)

    def forget_task(self, framework_id: str, task_id: str) -> None:
        self._write(ForgetTask(framework_id=framework_id, task_id=task_id))

    def forget_executor(self, framework_id: str, executor_id: str) -> None:
        self._write(ForgetExecutor(framework_id=framework_id, executor_id=executor_id))

    def flush(self) -> None:
        self._journal.flush()

    def close(self) -> None:
        self._journal.close()

    def recover(self) -> Recovered:
        """Read the journal: what was running when the last agent process stopped."""
        tasks: dict[tuple[str, str], TaskRecord] = {}
        executors: dict[tuple[str, str], ExecutorRecord] = {}
        for rec in self._journal.read():
            if isinstance(rec, TaskRecord):
                tasks[(_fid(rec.framework), rec.task.task_id.value)] = rec
            elif isinstance(rec, ExecutorRecord):
                executors[(_fid(rec.framework), rec.executor.executor_id.value)] = rec
            elif isinstance(rec, ForgetTask):
                tasks.pop((rec.framework_id, rec.task_id), None)
            else:
                executors.pop((rec.framework_id, rec.executor_id), None)
        # Compact: keep only what is still live.
        self._journal.rewrite([*executors.values(), *tasks.values()])
        return Recovered(self.agent_id(), list(tasks.values()), list(executors.values()))

    def wipe(self) -> None:
        """Forget everything (``--recover cleanup``)."""
        self.close()
        for name in ("containers.log", "agent.json"):
            with contextlib.suppress(FileNotFoundError):
                (self.dir / name).unlink()
