"""The operator views on a real cluster: every key Mesos tools read stays where it was.

A framework with a running command task (with labels), a finished one, a task group on a
DEFAULT executor and an outstanding offer; then every read endpoint of the master and the
agent is fetched. Each body must (1) have exactly the key paths pinned in
``operator_view_keys.json`` (captured from the hand-built dicts these views replaced) and
(2) decode into its type in ``corral.wire`` and encode back to the same JSON.

Set ``CORRAL_VIEWS_CAPTURE=<dir>`` to write the bodies and a fresh pin file to <dir>.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from recorder import connected, task

from corral.resources import scalars
from corral.testing import LocalCluster, wait_until
from corral.wire import operator as op
from corral.wire import state_views as sv
from corral.wire.base import ID
from corral.wire.codec import decode, encode
from corral.wire.common import Label, Labels
from corral.wire.tasks import ExecutorInfo

pytestmark = pytest.mark.integration

PINS = Path(__file__).with_name("operator_view_keys.json")
MASTER_CALLS = op.MASTER_CALLS  # every call each API serves
AGENT_CALLS = op.AGENT_CALLS
# The type each body decodes into (the operator API calls: MasterResponse / AgentResponse).
TYPES: dict[str, Any] = {
    "master /master/state": sv.MasterState,
    "master /master/slaves": sv.Slaves,
    "master /master/frameworks": sv.Frameworks,
    "master /master/tasks": sv.Tasks,
    "master /version": sv.VersionInfo,
    "agent /state": sv.AgentState,
    "agent /containers": list[op.Container],
    "agent /version": sv.VersionInfo,
}
# Keys that come and go with the agents' usage reports (every few seconds), and the metric
# names (a flat map whose counters appear as events happen).
VOLATILE = ("usage", "statistics")


def fetch(url: str, call: str | None = None) -> Any:
    data = None if call is None else json.dumps({"type": call}).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def key_paths(obj: Any, prefix: str = "") -> set[str]:
    """Every key path in ``obj``: ``a.b``, with ``[]`` for the items of a list."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in VOLATILE:
                continue
            path = f"{prefix}.{k}" if prefix else k
            out.add(path)
            out |= key_paths(v, path)
    elif isinstance(obj, list):
        for item in obj:
            out |= key_paths(item, prefix + "[]")
    return out


def collect(cluster: LocalCluster) -> dict[str, Any]:
    m = f"http://{cluster.master}"
    a = f"http://127.0.0.1:{cluster.agents[0].port}"
    bodies: dict[str, Any] = {}
    for path in ("/master/state", "/master/slaves", "/master/frameworks", "/master/tasks"):
        bodies[f"master {path}"] = fetch(m + path)
    for call in MASTER_CALLS:
        bodies[f"master {call}"] = fetch(m + "/api/v1", call)
    bodies["master /version"] = fetch(m + "/version")
    for path in ("/state", "/containers", "/version"):
        bodies[f"agent {path}"] = fetch(a + path)
    for call in AGENT_CALLS:
        bodies[f"agent {call}"] = fetch(a + "/api/v1", call)
    return bodies


async def test_views_keep_their_keys_and_decode_into_their_types(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        labelled = task(
            "sleeper",
            offer,
            "sleep 300",
            labels=Labels(labels=[Label(key="team", value="ops")]),
        )
        await driver.launch([offer.id.value], [labelled, task("quick", offer, "true")])
        await rec.wait_state("sleeper", "TASK_RUNNING")
        await rec.wait_state("quick", "TASK_FINISHED")
        offer = await rec.next_offer()
        executor = ExecutorInfo(
            executor_id=ID("group-exec"),
            type="DEFAULT",
            resources=scalars(cpus=0.1, mem=32).to_wire(),
        )
        await driver.launch_group([offer.id.value], executor, [task("g1", offer, "sleep 300")])
        await rec.wait_state("g1", "TASK_RUNNING")
        wait_until(
            lambda: cluster.state()["frameworks"][0]["offers"], 15, what="an outstanding offer"
        )
        bodies = collect(cluster)

    shapes = {name: sorted(key_paths(body)) for name, body in bodies.items()}
    capture = os.environ.get("CORRAL_VIEWS_CAPTURE")
    if capture:
        out = Path(capture)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bodies.json").write_text(json.dumps(bodies, indent=1, sort_keys=True))
        (out / PINS.name).write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(PINS.read_text())
    assert set(shapes) == set(pinned)
    for name in pinned:
        assert shapes[name] == pinned[name], name
    for name, body in bodies.items():
        default = op.MasterResponse if name.startswith("master") else op.AgentResponse
        typed = decode(json.dumps(body), TYPES.get(name, default))
        assert json.loads(encode(typed)) == body, name

    # What the CLI and tools read is there, typed.
    state = decode(json.dumps(bodies["master /master/state"]), sv.MasterState)
    (fw,) = state.frameworks
    assert {t.id: t.state for t in fw.tasks} == {"sleeper": "TASK_RUNNING", "g1": "TASK_RUNNING"}
    assert [(t.id, t.state) for t in fw.completed_tasks] == [("quick", "TASK_FINISHED")]
    assert [(e.executor_id, e.slave_id) for e in fw.executors] == [
        ("group-exec", state.slaves[0].id)
    ]
    assert fw.tasks[0].labels == [Label(key="team", value="ops")] and fw.offers
    tasks = decode(json.dumps(bodies["master GET_TASKS"]), op.MasterResponse).get_tasks
    assert isinstance(tasks, op.GetTasksOf)
    assert {t.task_id.value for t in tasks.tasks} == {"sleeper", "g1"}
    assert all(isinstance(t.statuses, list) and t.statuses for t in tasks.tasks)
    agent = decode(json.dumps(bodies["agent /state"]), sv.AgentState)
    directories = {
        t.id: ex.directory for f in agent.frameworks for ex in f.executors for t in ex.tasks
    }
    assert set(directories) == {"sleeper", "g1"}


def test_a_call_not_served_is_named(cluster: LocalCluster) -> None:
    def post(url: str, call_type: str) -> tuple[int, str]:
        req = urllib.request.Request(
            url, data=json.dumps({"type": call_type}).encode(), method="POST"
        )
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    master = f"http://{cluster.master}/api/v1"
    agent = f"http://127.0.0.1:{cluster.agents[0].port}/api/v1"
    status, body = post(master, "GROW_VOLUME")
    assert status == 501 and "GROW_VOLUME" in body and "not implemented" in body
    status, body = post(agent, "PRUNE_IMAGES")
    assert status == 501 and "PRUNE_IMAGES" in body
    for url in (master, agent):
        status, body = post(url, "NO_SUCH_CALL")
        assert status == 400 and "NO_SUCH_CALL" in body and "'type'" in body
