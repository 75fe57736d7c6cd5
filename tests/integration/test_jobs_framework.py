"""The jobs framework on a real local cluster: schedules, a chain, epsilon misses, bad input,
and a leader killed -9 mid-schedule with a standby taking over."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from corral.testing import LocalCluster, free_port, stop_process, wait_until
from corral.testing.zookeeper import ZkEnsemble

pytestmark = pytest.mark.integration


class JobsProc:
    def __init__(
        self, master: str, work: Path, log: Path, lease_ttl: float = 1.5, zk: str = ""
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("wb")
        extra = ["--zk", zk, "--zk-session-timeout", "2"] if zk else []
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "corral",
                "jobs",
                "--master",
                master,
                "--port",
                str(self.port),
                "--work-dir",
                str(work),
                "--lease-ttl",
                str(lease_ttl),
                *extra,
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode()

    def up(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"corral jobs exited {self.popen.returncode}:\n{self.text()}")
        try:
            return self.call("GET", "/v1/scheduler/jobs")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.popen, grace=10)
        self._out.close()


@pytest.fixture(scope="module")
def cl() -> Iterator[LocalCluster]:
    with LocalCluster(
        1,
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
        agent_flags=["--status-update-retry", "1"],
    ) as c:
        yield c


@pytest.fixture(scope="module")
def jobs(cl: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsProc]:
    d = tmp_path_factory.mktemp("jobs")
    p = JobsProc(cl.master, d / "work", d / "jobs.log")
    try:
        wait_until(p.up, 30, what="corral jobs to serve")
        yield p
    finally:
        p.stop()


def start_in(seconds: float) -> str:
    t = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def job(name: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "command": "true",
        "owner": "",
        "disabled": False,
        "cpus": 0.1,
        "mem": 32,
    }
    out.update(kw)
    return out


def runs(p: JobsProc, name: str) -> list[dict[str, Any]]:
    status, body = p.call("GET", f"/v1/runs?job={name}&limit=200")
    assert status == 200, body
    return list(reversed(body["runs"]))  # oldest first


def test_a_pt2s_schedule_runs_on_time_n_times(jobs: JobsProc) -> None:
    s = job("every2", schedule=f"R4/{start_in(2)}/PT2S")
    assert jobs.call("POST", "/v1/scheduler/iso8601", s)[0] == 204
    done = wait_until(
        lambda: (
            (r := runs(jobs, "every2"))
            and len(r) == 4
            and all(x["state"] == "succeeded" for x in r)
            and r
        ),
        40,
        what="4 successful runs",
    )
    sched = [datetime.fromisoformat(r["scheduled"].replace("Z", "+00:00")) for r in done]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(sched)] == [2.0, 2.0, 2.0]
    for r in done:
        start = datetime.fromisoformat(r["started"].replace("Z", "+00:00"))
        assert (
            0
            <= (
                start - datetime.fromisoformat(r["scheduled"].replace("Z", "+00:00"))
            ).total_seconds()
            < 5
        )
        assert r["exitStatus"] == 0 and r["taskId"] and r["agentId"] and r["sandbox"]["path"]
    (j,) = [x for x in jobs.call("GET", "/v1/scheduler/jobs")[1] if x["name"] == "every2"]
    assert j["successCount"] == 4 and j["errorCount"] == 0 and j["lastSuccess"]


def test_a_chain_runs_in_order_and_stops_where_b_fails(jobs: JobsProc) -> None:
    assert (
        jobs.call("POST", "/v1/scheduler/iso8601", job("ca", schedule=f"R1/{start_in(1)}/PT1H"))[0]
        == 204
    )
    assert (
        jobs.call(
            "POST",
            "/v1/scheduler/dependency",
            job("cb", parents=["ca"], command="exit 3", retries=1, retryBackoffSeconds=0.5),
        )[0]
        == 204
    )
    assert jobs.call("POST", "/v1/scheduler/dependency", job("cc", parents=["cb"]))[0] == 204
    wait_until(
        lambda: (r := runs(jobs, "cc")) and r[-1]["state"] == "skipped", 40, what="cc skipped"
    )
    (a,), (b,), (c,) = runs(jobs, "ca"), runs(jobs, "cb"), runs(jobs, "cc")
    assert a["state"] == "succeeded" and b["state"] == "failed" and len(b["attempts"]) == 2
    assert b["attempts"][0]["exitStatus"] == 3
    assert a["cycle"] == b["cycle"] == c["cycle"]
    assert a["ended"] <= b["attempts"][0]["started"]
    assert "parent cb" in c["reason"]
    detail = jobs.call("GET", "/v1/jobs/cc")[1]
    assert "parent cb" in detail["blocked"]


def test_a_runs_output_is_linked_from_its_history(jobs: JobsProc) -> None:
    spec = job("talks", schedule=f"R1/{start_in(3600)}/PT24H",
               command="echo hello from the run; echo and to stderr >&2")  # fmt: skip
    assert jobs.call("POST", "/v1/scheduler/iso8601", spec)[0] == 204
    assert jobs.call("PUT", "/v1/scheduler/job/talks")[0] == 204  # run now
    (r,) = wait_until(
        lambda: [x for x in runs(jobs, "talks") if x["state"] == "succeeded"] or None,
        30,
        what="the manual run to succeed",
    )
    status, out = jobs.call("GET", r["logs"]["stdout"])
    assert status == 200 and "hello from the run" in out
    status, err = jobs.call("GET", r["logs"]["stderr"])
    assert status == 200 and "and to stderr" in err and "hello" not in err
    status, body = jobs.call("GET", r["logs"]["stdout"].replace("/stdout", "/core"))
    assert status == 404 and "stdout and stderr" in body["message"]
    status, body = jobs.call("GET", "/v1/runs/talks/no-such-run/logs/stdout")
    assert status == 404 and "no run" in body["message"]


def test_epsilon_misses_are_recorded(jobs: JobsProc) -> None:
    big = job("toobig", schedule=f"R1/{start_in(1)}/PT1H", cpus=64, epsilon="PT2S")
    assert jobs.call("POST", "/v1/scheduler/iso8601", big)[0] == 204
    (r,) = wait_until(
        lambda: (x := runs(jobs, "toobig")) and x[0]["state"] == "missed" and x,
        30,
        what="a missed run",
    )
    assert "epsilon (PT2S)" in r["reason"] and "cpus" in r["reason"], r["reason"]


def test_bad_input_is_a_400_naming_the_problem_and_stores_nothing(jobs: JobsProc) -> None:
    cases = [
        (job("bad1", schedule="R/yesterday/PT1H"), "schedule"),
        (job("bad2", parents=["nobody"]), "no job named 'nobody'"),
        (job("bad3", schedule="*/5 * * * * * *"), "schedule"),
    ]
    for body, words in cases:
        status, err = jobs.call("POST", "/v1/scheduler/iso8601", body)
        assert status == 400 and words in err["message"] and err["status"] == "Bad Request"
    assert (
        jobs.call(
            "POST", "/v1/scheduler/iso8601", job("cy1", schedule="R/2030-01-01T00:00:00Z/PT1H")
        )[0]
        == 204
    )
    assert jobs.call("POST", "/v1/scheduler/dependency", job("cy2", parents=["cy1"]))[0] == 204
    status, err = jobs.call("POST", "/v1/scheduler/dependency", job("cy1", parents=["cy2"]))
    assert status == 400 and "cycle" in err["message"]
    names = {j["name"] for j in jobs.call("GET", "/v1/scheduler/jobs")[1]}
    assert not names & {"bad1", "bad2", "bad3"}
    assert jobs.call("GET", "/v1/scheduler/job/cy1")[1]["parents"] == []
    assert jobs.call("GET", "/openapi.json")[1]["paths"]["/v1/scheduler/iso8601"]


@pytest.mark.compat
def test_the_chronos_python_client_drives_it(jobs: JobsProc) -> None:
    import chronos

    client = chronos.connect(f"127.0.0.1:{jobs.port}")
    client.add(job("pyjob", schedule="R/2030-01-01T00:00:00Z/PT1H", command="echo hi"))
    assert "pyjob" in {j["name"] for j in client.list()}
    assert [j["name"] for j in client.search(name="pyjo")] == ["pyjob"]
    client.run("pyjob")
    wait_until(
        lambda: (r := runs(jobs, "pyjob")) and r[-1]["state"] == "succeeded",
        30,
        what="the manual run",
    )
    assert "node,pyjob,success" in client.scheduler_graph()
    assert client.job_stat("pyjob")["histogram"]["count"] == 1
    client.delete_tasks("pyjob")
    client.delete("pyjob")
    assert "pyjob" not in {j["name"] for j in client.list()}
    with pytest.raises(chronos.ChronosAPIError):
        client.add(job("pybad", schedule="R/nope/PT1H"))


def test_leader_killed_mid_schedule_loses_and_repeats_nothing(
    cl: LocalCluster, tmp_path: Path
) -> None:
    failover_check(cl, tmp_path, "")


@pytest.mark.zookeeper
def test_zookeeper_leader_killed_mid_schedule_loses_and_repeats_nothing(
    zk: ZkEnsemble, cl: LocalCluster, tmp_path: Path
) -> None:
    failover_check(cl, tmp_path, zk.url(f"/jobs-{uuid.uuid4().hex[:8]}"))


def failover_check(cl: LocalCluster, tmp_path: Path, state_zk: str) -> None:
    work = tmp_path / "work"
    first = JobsProc(cl.master, work, tmp_path / "first.log", zk=state_zk)
    second = None
    try:
        wait_until(first.up, 30, what="the first instance")
        second = JobsProc(cl.master, work, tmp_path / "second.log", zk=state_zk)
        wait_until(second.up, 30, what="the standby to proxy to the leader")
        body = job("ha", schedule=f"R/{start_in(1)}/PT1S", command="sleep 0.3", epsilon="PT30S")
        assert second.call("POST", "/v1/scheduler/iso8601", body)[0] == 204  # proxied
        wait_until(
            lambda: len([r for r in runs(first, "ha") if r["state"] == "succeeded"]) >= 3,
            30,
            what="3 runs before the kill",
        )
        os.kill(first.popen.pid, signal.SIGKILL)
        first.popen.wait(10)
        wait_until(lambda: second.up() and "leading" in second.text(), 30, what="the takeover")
        killed_at = datetime.now(UTC)
        wait_until(
            lambda: any(
                datetime.fromisoformat(r["scheduled"].replace("Z", "+00:00"))
                > killed_at + timedelta(seconds=3)
                and r["state"] == "succeeded"
                for r in runs(second, "ha")
            ),
            40,
            what="runs after the takeover",
        )
        assert second.call("PUT", "/v1/scheduler/job/ha/disable")[0] == 204
        history = runs(second, "ha")
        sched = [r["scheduled"] for r in history]
        assert len(sched) == len(set(sched)), "an instant has two runs"
        times = sorted(datetime.fromisoformat(s.replace("Z", "+00:00")) for s in sched)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(g == 1.0 for g in gaps), f"instants lost: {gaps}"
        for r in history:
            assert r["state"] in ("succeeded", "running", "pending", "skipped", "missed"), r
            if r["state"] in ("skipped", "missed"):
                assert r["reason"], r
        # At the master: one task per run attempt, never two for one instant.
        tasks = [
            t
            for f in cl.state()["frameworks"]
            if f["name"] == "jobs"
            for t in f["tasks"] + f["completed_tasks"]
        ]
        groups = [
            t["id"].rsplit(".", 1)[0]
            for t in tasks
            if t["id"].endswith(tuple("0123456789abcdef")) and ":ha" in t["id"]
        ]
        assert len(groups) == len(set(groups)), sorted(groups)
    finally:
        first.stop()
        if second is not None:
            second.stop()
