"""Where containers' sandboxes live under ``--work-dir`` (pure: paths only)."""

from __future__ import annotations

from pathlib import Path


def sandbox_dir(work_dir: Path, container_id: str) -> Path:
    """``<work_dir>/sandboxes/<container id>``.

    Flat on purpose: each directory created costs kernel time (up to ~0.7 ms of CPU each on
    this kind of ext4 disk), and Mesos's deep ``slaves/…/runs/<id>`` layout needs three per
    task. Tools find sandboxes through ``directory`` in the agent's ``/state``, and the
    agent's ``/files`` also answers Mesos's virtual path
    ``/frameworks/<fid>/executors/<eid>/runs/latest``.
    """
    return work_dir / "sandboxes" / container_id


def group_task_sandbox(executor_sandbox: Path, task_id: str) -> Path:
    """A task group's task runs in ``<executor sandbox>/tasks/<task id>``."""
    return executor_sandbox / "tasks" / task_id
