"""The front end's shell parts that need no cluster: what it reads from an app of the services
framework, its state file, and the quota check against a master's GET_QUOTA answer (a small
HTTP server answering in Mesos 1.9's shape, or 501 as a master without quotas does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from corral.frameworks.aurora.clients import ApiError
from corral.frameworks.aurora.frontend import FrontEnd, observe
from corral.frameworks.aurora.spec import JobSpec, Resources, parse_key, version_of
from corral.frameworks.aurora.state import FrontState, JobRecord, StateFile
from corral.frameworks.aurora.update import Observed, Tick, handle, new_update

OLD_CONFIG, NEW_CONFIG = "2026-01-01T00:00:00.000Z", "2026-01-01T00:05:00.000Z"


def app_json(tasks: list[dict[str, Any]], failure: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "/aurora/web/devel/hello/1",
        "version": "2026-01-01T00:06:00.000Z",  # a scale after the last config change
        "versionInfo": {"lastConfigChangeAt": NEW_CONFIG},
        "labels": {"corral.aurora.instance": "1", "corral.aurora.version": "v2"},
        "healthChecks": [{"protocol": "HTTP"}],
        "tasks": tasks,
        "lastTaskFailure": failure,
    }


def test_observe_reads_the_task_of_the_current_definition() -> None:
    old = {"id": "t-old", "state": "TASK_RUNNING", "version": OLD_CONFIG}
    new = {
        "id": "t-new",
        "state": "TASK_RUNNING",
        "version": NEW_CONFIG,
        "healthCheckResults": [{"alive": True}],
    }
    seen = observe(app_json([old, new]))
    assert seen == (1, Observed(1, "v2", "t-new", True), None)
    # only the old definition's task: nothing of v2 is running yet
    assert observe(app_json([old])) == (1, Observed(1, "v2", "", False), None)
    # no health result yet: running but not healthy
    unchecked = {**new, "healthCheckResults": []}
    assert observe(app_json([unchecked])) == (1, Observed(1, "v2", "t-new", False), None)


def test_observe_keeps_only_failures_of_the_current_definition() -> None:
    stale = {"taskId": "t0", "version": OLD_CONFIG, "message": "killed by the update"}
    assert observe(app_json([], stale)) == (1, Observed(1, "v2", "", False), None)
    fresh = {"taskId": "t1", "version": NEW_CONFIG, "message": "unhealthy"}
    assert observe(app_json([], fresh)) == (1, Observed(1, "v2", "", False), fresh)


def test_the_state_file_round_trips_jobs_and_a_running_update(tmp_path: Path) -> None:
    spec = JobSpec(command="sleep 1", instances=2)
    v = version_of(spec)
    upd = new_update(
        "web/devel/hello",
        from_version=v,
        to_version="v2",
        from_instances=2,
        to_instances=2,
        config=spec.update,
        now=10.0,
    )
    handle(upd, Tick(), 10.0)
    state = FrontState(
        jobs={"web/devel/hello": JobRecord(key="web/devel/hello", kind="service", version=v,
                                           specs={v: spec}, created=1.0)},
        updates={"web/devel/hello": upd},
    )  # fmt: skip
    f = StateFile(tmp_path / "aurora-state.json")
    assert f.load() == FrontState()
    f.save(state)
    again = f.load()
    assert again == state
    assert again.jobs["web/devel/hello"].spec == spec
    assert not (tmp_path / "aurora-state.tmp").exists()


def quota_master(answer: web.Response | None) -> web.Application:
    async def call(request: web.Request) -> web.Response:
        body = await request.json()
        assert body == {"type": "GET_QUOTA"}
        if answer is not None:
            return answer
        return web.json_response(
            {
                "type": "GET_QUOTA",
                "get_quota": {
                    "status": {
                        "configs": [
                            {
                                "role": "web",
                                "guarantees": {"cpus": {"value": 4}},
                                "limits": {"cpus": {"value": 10}, "mem": {"value": 8192}},
                            }
                        ]
                    }
                },
            }
        )

    app = web.Application()
    app.router.add_post("/api/v1", call)
    return app


def spec(instances: int, cpus: float = 1.0) -> JobSpec:
    return JobSpec(command="sleep 100", instances=instances, resources=Resources(cpus=cpus))


async def front_with(master: web.Application, tmp_path: Path) -> tuple[FrontEnd, TestServer]:
    server = TestServer(master, host="127.0.0.1")
    await server.start_server()
    front = FrontEnd(
        services_url="http://127.0.0.1:1",
        jobs_url="http://127.0.0.1:1",
        master=f"127.0.0.1:{server.port}",
        work_dir=tmp_path,
    )
    await front.start()
    held = spec(4)  # web/devel/a holds 4 cpus
    v = version_of(held)
    front.state.jobs["web/devel/a"] = JobRecord(
        key="web/devel/a", kind="service", version=v, specs={v: held}, created=0.0
    )
    return front, server


async def test_quota_counts_the_roles_other_jobs(tmp_path: Path) -> None:
    front, server = await front_with(quota_master(None), tmp_path)
    try:
        await front.check_quota(parse_key("web/devel/b"), spec(6))  # 4 + 6 = the limit
        with pytest.raises(ApiError) as info:
            await front.check_quota(parse_key("web/devel/b"), spec(14))
        assert info.value.status == 409
        assert info.value.message == "role web: needs 8 cpus more than its quota"
        # the job being updated does not count against itself
        await front.check_quota(parse_key("web/devel/a"), spec(10))
        # another role has no quota
        await front.check_quota(parse_key("db/devel/x"), spec(100))
    finally:
        await front.close()
        await server.close()


async def test_a_master_without_quotas_accepts(tmp_path: Path) -> None:
    answer = web.Response(status=501, text="master::Call type GET_QUOTA is not implemented")
    front, server = await front_with(quota_master(answer), tmp_path)
    try:
        await front.check_quota(parse_key("web/devel/b"), spec(1000))
    finally:
        await front.close()
        await server.close()


async def test_an_unreachable_master_is_a_clear_502(tmp_path: Path) -> None:
    front = FrontEnd(
        services_url="http://127.0.0.1:1",
        jobs_url="http://127.0.0.1:1",
        master="127.0.0.1:1",
        work_dir=tmp_path,
    )
    await front.start()
    try:
        with pytest.raises(ApiError) as info:
            await front.check_quota(parse_key("web/devel/b"), spec(1))
        assert info.value.status == 502 and "cannot reach the master" in info.value.message
    finally:
        await front.close()
