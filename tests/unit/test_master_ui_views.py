"""The web UI's pure parts: the utilization sampler's bounded ring, the Tasks page's query
parsing, filtering and paging over the master's records, the views' numbers; and a standby's
307 of the page to the leader."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from corral.master import ui_views
from corral.master.core.config import MasterConfig
from corral.master.core.state import AgentRecord, FrameworkRecord, MasterState, TaskRecord
from corral.master.server import MasterProcess, build_app
from corral.master.ui_sampler import Sample, SampleRing, add, series
from corral.master.ui_tasks import MAX_LIMIT, TaskQuery, parse_query
from corral.resources import parse
from corral.wire.base import ID
from corral.wire.common import AgentInfo, FrameworkInfo
from corral.wire.tasks import TaskInfo, TaskStatus


# ---------------------------------------------------------------------- sampler
def sample(t: float, cpus_used: float, cpus_total: float = 4.0, running: int = 0) -> Sample:
    return Sample(
        time=t, used={"cpus": cpus_used}, total={"cpus": cpus_total}, tasks_running=running
    )


def test_ring_is_bounded_by_its_window() -> None:
    ring = SampleRing(interval=5, window=60)
    assert ring.capacity == 13
    for i in range(1000):
        add(ring, sample(1000.0 + 5 * i, 1.0))
    assert len(ring.samples) == 13
    assert ring.samples[0].time == 1000.0 + 5 * 987  # the oldest went first
    assert ring.samples[-1].time == 1000.0 + 5 * 999


def test_series_are_parallel_lists_with_percentages() -> None:
    ring = SampleRing(interval=1, window=10)
    add(ring, sample(100.0, 1.0, running=2))
    add(ring, sample(101.0, 3.0, running=5))
    add(ring, sample(102.0, 0.0, cpus_total=0.0))
    out = series(ring, now=102.0)
    assert out["time"] == [100.0, 101.0, 102.0]
    assert out["cpus_used"] == [1.0, 3.0, 0.0]
    assert out["cpus_percent"] == [25.0, 75.0, 0.0]  # no total: 0, not a division by zero
    assert out["tasks_running"] == [2, 5, 0]
    assert out["mem_percent"] == [0.0, 0.0, 0.0]  # kinds the samples lack are zeros
    assert series(ring, now=102.0, window=1.5)["time"] == [101.0, 102.0]
    assert series(ring, now=500.0)["time"] == []  # all older than the window


def test_a_sample_from_a_clock_step_back_replaces_the_last() -> None:
    ring = SampleRing(interval=1, window=10)
    add(ring, sample(100.0, 1.0))
    add(ring, sample(101.0, 2.0))
    add(ring, sample(100.5, 3.0))
    assert [s.time for s in ring.samples] == [100.0, 100.5]


def test_ring_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError):
        SampleRing(interval=0)
    with pytest.raises(ValueError):
        SampleRing(interval=10, window=5)


# ---------------------------------------------------------------------- task query
def test_parse_query_defaults_and_errors_name_the_field() -> None:
    assert parse_query({}) == TaskQuery()
    q = parse_query({"state": "TASK_RUNNING", "name": " Web ", "offset": "10", "limit": "5"})
    assert q == TaskQuery(state="TASK_RUNNING", name="web", offset=10, limit=5)
    assert "'limit'" in str(parse_query({"limit": "0"}))
    assert "'limit'" in str(parse_query({"limit": str(MAX_LIMIT + 1)}))
    assert "'offset'" in str(parse_query({"offset": "-1"}))
    assert "'offset'" in str(parse_query({"offset": "x"}))
    assert "'state'" in str(parse_query({"state": "running"}))


def state_with_tasks(n_fw: int = 2, per_fw: int = 100, completed: int = 30) -> MasterState:
    m = MasterState(config=MasterConfig(), id="M", start_time=1000.0)
    for a in range(4):
        aid = f"S{a}"
        m.agents[aid] = AgentRecord(
            id=aid,
            info=AgentInfo(hostname=f"host{a}"),
            address=f"127.0.0.1:{5000 + a}",
            version="0",
            total=parse("cpus:8;mem:8192;disk:100"),
            registered_time=1000.0,
        )
    for f in range(n_fw):
        fid = f"F{f}"
        fw = FrameworkRecord(id=fid, info=FrameworkInfo(user="u", name=f"fw{f}"), registered_time=0)
        m.frameworks[fid] = fw
        for i in range(per_fw + completed):
            aid = f"S{i % 4}"
            tid = f"{fid}-t{i}"
            name = "web" if i % 10 == 0 else "batch"
            t = TaskRecord(
                framework_id=fid,
                agent_id=aid,
                info=TaskInfo(name=name, task_id=ID(tid), agent_id=ID(aid)),
                role="*",
                resources=parse("cpus:1;mem:64"),
            )
            state = "TASK_RUNNING" if i % 3 else "TASK_STAGING"
            if i >= per_fw:
                state = "TASK_FINISHED"
            t.record(TaskStatus(task_id=ID(tid), state=state, timestamp=2000.0 + i))
            if i >= per_fw:
                fw.completed_tasks.append(t)
            else:
                fw.tasks[tid] = t
                m.agents[aid].tasks[(fid, tid)] = t
                m.agents[aid].used = m.agents[aid].used + t.resources
    return m


def ids(out: dict[str, object]) -> list[str]:
    rows = out["tasks"]
    assert isinstance(rows, list)
    return [r["id"] for r in rows]


def query(m: MasterState, **params: str) -> dict[str, object]:
    q = parse_query(params)
    assert isinstance(q, TaskQuery), q
    return ui_views.tasks(m, q)


def test_tasks_page_without_filters_counts_all_and_returns_one_page() -> None:
    m = state_with_tasks()
    out = query(m, limit="50")
    assert out["total"] == 260
    assert ids(out) == [f"F0-t{i}" for i in range(50)]
    # pages are contiguous and cover every task once; completed ones newest first
    seen: list[str] = []
    for offset in range(0, 260, 50):
        seen += ids(query(m, offset=str(offset), limit="50"))
    assert len(seen) == len(set(seen)) == 260
    assert seen[200:202] == ["F0-t129", "F0-t128"]
    assert ids(query(m, offset="1000")) == []


def test_tasks_page_filters_by_state_framework_agent_and_name() -> None:
    m = state_with_tasks()
    running = query(m, state="TASK_RUNNING", limit="500")
    assert running["total"] == 2 * 66
    assert all(r["state"] == "TASK_RUNNING" for r in running["tasks"])  # type: ignore[attr-defined]
    assert query(m, state="completed")["total"] == 60
    assert query(m, state="active")["total"] == 200
    assert query(m, state="unreachable")["total"] == 0
    assert query(m, framework="F1")["total"] == 130
    assert query(m, framework="nope")["total"] == 0
    on_s1 = query(m, agent="S1", state="active", limit="500")
    assert on_s1["total"] == 50 and all(i.split("-t")[1] for i in ids(on_s1))
    assert {int(i.split("-t")[1]) % 4 for i in ids(on_s1)} == {1}
    web = query(m, name="WEB", framework="F0", limit="500")
    assert ids(web) == [f"F0-t{i}" for i in range(0, 100, 10)] + [
        f"F0-t{i}" for i in range(120, 99, -10)
    ]
    by_id = query(m, name="f1-t12")  # the id matches too
    assert set(ids(by_id)) >= {"F1-t12", "F1-t120"}
    paged = query(m, state="TASK_RUNNING", offset="130", limit="50")
    assert paged["total"] == 132 and len(ids(paged)) == 2


def test_rows_carry_names_hosts_and_resources() -> None:
    m = state_with_tasks(n_fw=1, per_fw=4, completed=0)
    row = query(m, limit="1")["tasks"][0]  # type: ignore[index]
    assert row["framework"] == "fw0" and row["hostname"] == "host0"
    assert row["resources"]["cpus"] == 1.0 and row["updated"] == 2000.0
    detail = ui_views.task(m, "F0", "F0-t0")
    assert detail is not None
    assert detail["sandbox"] == "/frameworks/F0/executors/F0-t0/runs/latest"
    assert [s["state"] for s in detail["statuses"]] == ["TASK_STAGING"]
    assert ui_views.task(m, "F0", "nope") is None


def test_dashboard_totals_and_agents_page() -> None:
    m = state_with_tasks(n_fw=1, per_fw=8, completed=0)
    m.terminal_counts["TASK_FINISHED"] = 7
    m.unreachable_agents["S9"] = 1500.0
    d = ui_views.dashboard(m, "me:5050", {"mode": "none"}, now=1100.0)
    assert d["resources"]["cpus"] == {"total": 32.0, "used": 8.0, "offered": 0.0, "idle": 24.0}
    assert d["tasks"]["active"] == {"TASK_STAGING": 3, "TASK_RUNNING": 5}
    assert d["tasks"]["terminal"] == {"TASK_FINISHED": 7}
    assert d["agents"] == {"active": 4, "disconnected": 0, "inactive": 0, "unreachable": 1}
    assert d["master"]["uptime_secs"] == 100.0
    page = ui_views.agents(m, {"S9": ("gone-host", "1.2.3.4:5")}, {}, 0, 3)
    assert page["total"] == 5 and len(page["agents"]) == 3
    last = ui_views.agents(m, {"S9": ("gone-host", "1.2.3.4:5")}, {}, 3, 3)["agents"]
    assert [a["status"] for a in last] == ["active", "unreachable"]
    assert last[1]["hostname"] == "gone-host"
    assert ui_views.agents(m, {}, {}, 0, 50, "host2")["total"] == 1
    s = ui_views.sample(m, 1100.0)
    assert s.used["cpus"] == 8.0 and s.total["mem"] == 4 * 8192 and s.tasks_running == 5


# ---------------------------------------------------------------------- standby
async def test_a_standby_redirects_the_page_and_its_data_to_the_leader() -> None:
    proc = MasterProcess(MasterConfig(port=5999, zk="zk://127.0.0.1:1/corral"))
    proc.leader_address = "10.0.0.9:5050"
    async with TestClient(TestServer(build_app(proc), host="127.0.0.1")) as client:
        r = await client.get("/", allow_redirects=False)
        assert r.status == 307 and r.headers["Location"] == "//10.0.0.9:5050/"
        r = await client.get("/ui/api/tasks?state=active", allow_redirects=False)
        assert r.status == 307
        assert r.headers["Location"] == "//10.0.0.9:5050/ui/api/tasks?state=active"
        r = await client.get("/ui/static/app.js")  # assets come from any master
        assert r.status == 200
        proc.leader_address = None
        assert (await client.get("/", allow_redirects=False)).status == 503
