"""The typed operator views: decoding what Mesos tools receive, encoding what corral serves,
and the per-record render cache. No process, no event loop."""

from __future__ import annotations

import json

import msgspec
import pytest

from corral.master.core.state import FrameworkRecord, TaskRecord
from corral.master.render_cache import RenderCache
from corral.master.views import state_framework, state_task, task_change_key, v1_task
from corral.resources import scalars
from corral.wire import operator as op
from corral.wire import state_views as sv
from corral.wire.base import ID
from corral.wire.codec import WireError, decode, encode
from corral.wire.common import FrameworkInfo, Label, Labels
from corral.wire.tasks import TaskInfo, TaskStatus


def record(task_id: str = "t1", executor_id: str | None = None) -> TaskRecord:
    info = TaskInfo(
        name=task_id,
        task_id=ID(task_id),
        agent_id=ID("a1"),
        resources=scalars(cpus=0.5, mem=64).to_wire(),
    )
    return TaskRecord(
        framework_id="f1",
        agent_id="a1",
        info=info,
        role="*",
        resources=scalars(cpus=0.5, mem=64),
        executor_id=executor_id,
    )


def status(state: str, uuid: bytes | None = b"0123456789abcdef") -> TaskStatus:
    return TaskStatus(task_id=ID("t1"), state=state, timestamp=1.5, uuid=uuid)


# ---------------------------------------------------------------------- decoding responses
def test_master_responses_decode_into_their_types() -> None:
    body = {
        "type": "GET_TASKS",
        "get_tasks": {
            "tasks": [
                {
                    "name": "t",
                    "task_id": {"value": "t1"},
                    "framework_id": {"value": "f1"},
                    "agent_id": {"value": "a1"},
                    "state": "TASK_RUNNING",
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}],
                    "statuses": [
                        {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "uuid": "AAAA"}
                    ],
                }
            ],
            "unreachable_tasks": [],
            "completed_tasks": [],
        },
    }
    resp = decode(json.dumps(body), op.MasterResponse)
    assert resp.type == "GET_TASKS" and resp.get_state is msgspec.UNSET
    assert isinstance(resp.get_tasks, op.GetTasksOf)
    (t,) = resp.get_tasks.tasks
    assert isinstance(t, op.Task)
    assert t.task_id == ID("t1") and t.executor_id is msgspec.UNSET
    assert isinstance(t.statuses, list) and t.statuses[0].uuid == b"\0\0\0"
    assert json.loads(encode(resp)) == body

    health = decode(b'{"type":"GET_HEALTH","get_health":{"healthy":true}}', op.MasterResponse)
    assert health.get_health == op.GetHealth(healthy=True)


def test_agent_responses_decode_into_their_types() -> None:
    body = {
        "type": "GET_CONTAINERS",
        "get_containers": {
            "containers": [
                {
                    "container_id": {"value": "c1"},
                    "framework_id": {"value": "f1"},
                    "executor_id": {"value": "e1"},
                    "containerizer": "linux",
                    "statistics": {"mem_rss_bytes": 4096},
                }
            ]
        },
    }
    resp = decode(json.dumps(body), op.AgentResponse)
    assert isinstance(resp.get_containers, op.GetContainers)
    assert resp.get_containers.containers[0].statistics == {"mem_rss_bytes": 4096}
    assert json.loads(encode(resp)) == body


def test_a_view_missing_a_key_is_an_error_naming_it() -> None:
    with pytest.raises(WireError, match=r"get_tasks\.tasks"):
        decode(b'{"type":"GET_TASKS","get_tasks":{"completed_tasks":[]}}', op.MasterResponse)
    with pytest.raises(WireError, match="data"):
        decode(b'{"offset": 3}', sv.FileData)


def test_a_legacy_task_keeps_numbers_as_sent_and_omits_only_unset_keys() -> None:
    raw = (
        b'{"id":"t1","name":"t1","framework_id":"f1","executor_id":"","slave_id":"a1",'
        b'"state":"TASK_RUNNING","resources":{"cpus":0.5,"disk":0,"ports":"[1-2]"},'
        b'"statuses":[]}'
    )
    t = decode(raw, sv.StateTask)
    assert t.resources == {"cpus": 0.5, "disk": 0, "ports": "[1-2]"}
    assert isinstance(t.resources["disk"], int)
    assert t.role is msgspec.UNSET and t.labels is msgspec.UNSET
    assert encode(t) == raw  # the empty list is kept, the unset keys stay out


# ---------------------------------------------------------------------- rendering records
def test_state_task_shows_labels_statistics_and_statuses() -> None:
    t = record()
    t.info.labels = Labels(labels=[Label(key="team", value="ops")])
    t.record(status("TASK_STARTING"))
    t.record(TaskStatus(task_id=ID("t1"), state="TASK_RUNNING", healthy=True))
    t.statistics = {"mem_rss_bytes": 10}
    out = json.loads(encode(state_task(t)))
    assert out == {
        "id": "t1",
        "name": "t1",
        "framework_id": "f1",
        "executor_id": "",
        "slave_id": "a1",
        "state": "TASK_RUNNING",
        "resources": {"cpus": 0.5, "mem": 64.0, "disk": 0, "gpus": 0},
        "role": "*",
        "statuses": [
            {"state": "TASK_STARTING", "timestamp": 1.5},
            {"state": "TASK_RUNNING", "healthy": True},
        ],
        "labels": [{"key": "team", "value": "ops"}],
        "statistics": {"mem_rss_bytes": 10},
    }


def test_v1_task_names_its_executor_only_when_it_has_one() -> None:
    plain = json.loads(encode(v1_task(record())))
    assert "executor_id" not in plain and plain["statuses"] == []
    grouped = record(executor_id="e1")
    grouped.status_update_state = "TASK_RUNNING"
    out = json.loads(encode(v1_task(grouped)))
    assert out["executor_id"] == {"value": "e1"}
    assert out["status_update_state"] == "TASK_RUNNING"


def test_a_framework_view_embeds_the_cached_task_json() -> None:
    fw = FrameworkRecord(
        id="f1", info=FrameworkInfo(user="u", name="fw", id=ID("f1")), registered_time=2.0
    )
    running, done = record("t1"), record("t2")
    done.record(status("TASK_FINISHED"))
    fw.tasks["t1"] = running
    fw.completed_tasks.append(done)
    cache = RenderCache(state_task, task_change_key)
    view = decode(encode(state_framework(fw, cache)), sv.StateFramework)
    assert [t.id for t in view.tasks] == ["t1"]
    assert [(t.id, t.state) for t in view.completed_tasks] == [("t2", "TASK_FINISHED")]
    assert view.labels == [] and view.principal is None and view.executors == []
    assert len(cache) == 2


# ---------------------------------------------------------------------- the render cache
def test_the_cache_reuses_json_until_the_record_changes() -> None:
    renders: list[str] = []

    def render(t: TaskRecord) -> sv.StateTask:
        renders.append(t.task_id)
        return state_task(t)

    cache = RenderCache(render, task_change_key)
    t = record()
    first = cache.get(t)
    assert cache.get(t) is first and renders == ["t1"]
    t.record(status("TASK_RUNNING"))  # a new status object: the key changes
    second = cache.get(t)
    assert second is not first and renders == ["t1", "t1"]
    assert decode(bytes(second), sv.StateTask).state == "TASK_RUNNING"
    t.statistics = {"processes": 1}
    assert decode(bytes(cache.get(t)), sv.StateTask).statistics == {"processes": 1}


def test_a_full_pass_forgets_records_it_did_not_render() -> None:
    cache = RenderCache(state_task, task_change_key)
    kept, dropped = record("kept"), record("dropped")
    cache.get(kept)
    cache.get(dropped)
    assert len(cache) == 2
    with cache.full_pass():
        with cache.full_pass():  # a pass inside a pass belongs to the outer one
            cache.get(kept)
        assert len(cache) == 2
    assert len(cache) == 1
    hit = cache.get(kept)
    with pytest.raises(RuntimeError), cache.full_pass():
        raise RuntimeError("a render that fails keeps what was cached")
    assert cache.get(kept) is hit
