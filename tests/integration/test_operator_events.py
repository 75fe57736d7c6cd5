"""The operator event stream (SUBSCRIBE on /api/v1, through `corral events --follow --json`)
and /metrics on a real cluster: a task run by `corral run` shows up as TASK_ADDED and
TASK_UPDATED, its framework as FRAMEWORK_ADDED/REMOVED, a killed agent as AGENT_REMOVED; the
Prometheus exposition parses and counts what ran."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from corral.testing import LocalCluster, http_json, wait_until

pytestmark = pytest.mark.integration
CORRAL = [sys.executable, "-m", "corral"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        1,
        master_flags=["--agent-ping-timeout", "0.5", "--max-agent-ping-timeouts", "2"],
        agent_flags=["--status-update-retry", "1"],
    ) as c:
        yield c


class Follower:
    """`corral events --follow --json` in the background; its events in a queue."""

    def __init__(self, cluster: LocalCluster) -> None:
        env = {**os.environ, "CORRAL_MASTER": cluster.master}
        self.proc = subprocess.Popen(
            [*CORRAL, "events", "--follow", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def wait_for(self, pred: Any, what: str, timeout: float = 30.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            while True:
                try:
                    self.seen.append(self.events.get_nowait())
                except queue.Empty:
                    break
            return next((e for e in self.seen if pred(e)), None)

        wait_until(lambda: found() is not None, timeout, what=what)
        out = found()
        assert out is not None
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def metrics(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_events_follow_a_task_its_framework_and_an_agent(cluster: LocalCluster) -> None:
    f = Follower(cluster)
    try:
        first = f.wait_for(lambda e: True, "the first event")
        assert first["type"] == "SUBSCRIBED"
        assert len(first["subscribed"]["get_state"]["get_agents"]["agents"]) == 1
        env = {**os.environ, "CORRAL_MASTER": cluster.master}
        p = subprocess.run(
            [*CORRAL, "run", "--", "true"], capture_output=True, text=True, timeout=60, env=env
        )
        assert p.returncode == 0, p.stdout + p.stderr
        added = f.wait_for(lambda e: e["type"] == "TASK_ADDED", "TASK_ADDED")
        task_id = added["task_added"]["task"]["task_id"]["value"]
        fid = added["task_added"]["task"]["framework_id"]["value"]
        f.wait_for(
            lambda e: (
                e["type"] == "TASK_UPDATED"
                and e["task_updated"]["status"]["task_id"]["value"] == task_id
                and e["task_updated"]["state"] == "TASK_RUNNING"
            ),
            "TASK_UPDATED to TASK_RUNNING",
        )
        f.wait_for(
            lambda e: (
                e["type"] == "TASK_UPDATED"
                and e["task_updated"]["state"] == "TASK_FINISHED"
                and e["task_updated"]["framework_id"]["value"] == fid
            ),
            "TASK_UPDATED to TASK_FINISHED",
        )
        f.wait_for(
            lambda e: (
                e["type"] == "FRAMEWORK_ADDED"
                and e["framework_added"]["framework"]["framework_info"]["id"]["value"] == fid
            ),
            "FRAMEWORK_ADDED",
        )
        f.wait_for(
            lambda e: (
                e["type"] == "FRAMEWORK_REMOVED"
                and e["framework_removed"]["framework_info"]["id"]["value"] == fid
            ),
            "FRAMEWORK_REMOVED",
        )
        # A second agent comes and goes.
        agent = cluster.add_agent()
        new = f.wait_for(lambda e: e["type"] == "AGENT_ADDED", "AGENT_ADDED")
        aid = new["agent_added"]["agent"]["agent_info"]["id"]["value"]
        launcher = agent.launcher_pid
        cluster.kill_agent(agent)
        if launcher is not None:  # the launcher outlives its agent: stop it too
            os.kill(launcher, signal.SIGTERM)
        f.wait_for(
            lambda e: (
                e["type"] == "AGENT_REMOVED" and e["agent_removed"]["agent_id"]["value"] == aid
            ),
            "AGENT_REMOVED",
        )
        order = [e["type"] for e in f.seen]
        assert order.index("TASK_ADDED") < order.index("TASK_UPDATED")
    finally:
        f.stop()


def test_events_without_follow_prints_the_snapshot_and_exits(cluster: LocalCluster) -> None:
    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    p = subprocess.run([*CORRAL, "events"], capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 0, p.stderr
    assert "SUBSCRIBED agents=" in p.stdout


def test_master_metrics_count_what_ran(cluster: LocalCluster) -> None:
    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    p = subprocess.run(
        [*CORRAL, "run", "--count", "3", "--", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    m = metrics(cluster.url)
    assert m["corral_master_elected"][()] == 1
    assert m["corral_master_tasks_terminal_total"][(("state", "finished"),)] >= 4
    assert m["corral_master_tasks_launched_total"][()] >= 4
    assert m["corral_master_resources_total"][(("resource", "cpus"),)] > 0
    assert m["corral_master_offer_accept_seconds_count"][()] >= 2
    assert m["corral_master_allocation_seconds_count"][()] >= 1
    assert m["corral_master_status_update_ack_seconds_count"][()] >= 8
    snap = http_json(f"{cluster.url}/metrics/snapshot")
    assert snap["master/elected"] == 1 and snap["master/tasks_finished"] >= 4


def test_agent_metrics_and_snapshot(cluster: LocalCluster) -> None:
    agent_url = f"http://127.0.0.1:{cluster.agents[0].port}"
    m = metrics(agent_url)
    assert m["corral_agent_registered"][()] == 1
    assert m["corral_agent_resources_total"][(("resource", "cpus"),)] > 0
    assert m["corral_agent_tasks_completed"][(("state", "finished"),)] >= 1
    snap = http_json(f"{agent_url}/metrics/snapshot")
    assert snap["slave/registered"] == 1 and snap["slave/cpus_total"] > 0
    assert {"slave/tasks_running", "slave/uptime_secs", "slave/mem_percent"} <= set(snap)


@pytest.mark.zookeeper
def test_standby_redirects_subscribe_and_reports_elected_0(zk: Any) -> None:
    path = f"/corral-{uuid.uuid4().hex[:8]}"
    with LocalCluster(
        0, masters=2, zk=zk.url(path), master_flags=["--agent-ping-timeout", "1"]
    ) as ha:
        wait_until(lambda: ha.leader_index() is not None, 20, what="a leader")
        li = ha.leader_index()
        standby = ha.ports[1 - li]  # type: ignore[operator]
        conn = http.client.HTTPConnection("127.0.0.1", standby, timeout=5)
        conn.request(
            "POST",
            "/api/v1",
            body=b'{"type":"SUBSCRIBE"}',
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 307
        assert resp.getheader("Location") == f"//127.0.0.1:{ha.ports[li]}/api/v1"  # type: ignore[index]
        conn.close()
        m = metrics(f"http://127.0.0.1:{standby}")
        assert m["corral_master_elected"][()] == 0
        assert (("status", "active"),) in m["corral_master_agents"]
        snap = http_json(f"http://127.0.0.1:{standby}/metrics/snapshot")
        assert snap["master/elected"] == 0 and "master/tasks_running" in snap
