"""The batch API's JSON views of the queue (pure): one line per job with its array's
progress, and a job with its elements."""

from __future__ import annotations

from typing import Any

from corral.frameworks.batch import queue as Q
from corral.frameworks.batch.arrays import ArraySpec, format_array
from corral.frameworks.batch.model import QUEUED, Element, Job


def summary(job: Job) -> dict[str, Any]:
    r = job.request
    c = Q.counts(job)
    out: dict[str, Any] = {
        "id": job.id,
        "name": r.name,
        "state": Q.job_state(job),
        "priority": r.priority,
        "tier": r.tier,
        "command": r.command,
        "cpus": r.cpus,
        "mem": r.mem,
        "retries": r.retries,
        "elements": len(job.elements),
        "queued": c["QUEUED"],
        "running": c["RUNNING"],
        "done": c["DONE"],
        "failed": c["FAILED"],
        "cancelled": c["CANCELLED"],
        "submitted_at": job.submitted_at,
        "ended_at": job.ended_at,
    }
    if job.is_array:
        out["array"] = format_array(ArraySpec(tuple(e.index for e in job.elements), job.limit))
        out["limit"] = job.limit
    return out


def element_view(
    job: Job, el: Element, framework_id: str | None, unplaced: dict[str, str]
) -> dict[str, Any]:
    cur = el.current
    out: dict[str, Any] = {"index": el.index, "state": el.state, "attempts": len(el.attempts)}
    if cur is not None:
        out.update(
            task_id=cur.task_id,
            agent_id=cur.agent_id,
            hostname=cur.hostname,
            started_at=cur.started_at,
            ended_at=cur.ended_at,
            task_state=cur.state,
            exit_code=cur.exit_code,
            message=cur.message,
        )
        if framework_id:
            run = cur.container_id or "latest"
            out["sandbox"] = f"/frameworks/{framework_id}/executors/{cur.task_id}/runs/{run}"
        out["history"] = [
            {
                "task_id": a.task_id,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
                "task_state": a.state,
                "exit_code": a.exit_code,
                "hostname": a.hostname,
                "preempted": a.preempted,
                "lost": a.lost,
                "message": a.message,
            }
            for a in el.attempts
        ]
    if el.state == QUEUED:
        why = unplaced.get(Q.group_of(job.id, el.index))
        if why:
            out["waiting"] = why
    return out


def detail(job: Job, framework_id: str | None, unplaced: dict[str, str]) -> dict[str, Any]:
    out = summary(job)
    out["env"] = job.request.env
    out["element_list"] = [element_view(job, e, framework_id, unplaced) for e in job.elements]
    return out


__all__ = ["detail", "element_view", "summary"]
