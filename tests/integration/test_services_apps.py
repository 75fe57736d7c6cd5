"""``corral services`` against a real cluster of 3 agents with distinct hostnames.

One cluster and one services process for the module: invalid definitions change nothing;
UNIQUE hostname spreads over the 3 agents and says why a 4th cannot run; a COMMAND health
check that starts failing gets its task replaced; a rolling upgrade with a good version,
then a bad one that is stuck with a reason and rolled back by cancelling its deployment,
the old instances never below minimumHealthCapacity; N kept running across task kills and
the loss of an agent (last: it shrinks the cluster).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services_api_proc import ServicesProc, clear_apps, running, running_at_master, task_pid

from corral.testing import LocalCluster, wait_until

pytestmark = pytest.mark.integration

HOSTS = ("node-a", "node-b", "node-c")


@pytest.fixture(scope="module")
def cluster3() -> Iterator[LocalCluster]:
    c = LocalCluster(
        0,
        agent_resources="cpus:2;mem:2048;disk:1000;ports:[31000-31100]",
        master_flags=["--agent-ping-timeout", "0.5", "--max-agent-ping-timeouts", "3"],
        agent_flags=["--status-update-retry", "1"],
    )
    c.start()
    try:
        for host in HOSTS:
            c.add_agent(wait=False, extra_flags=["--hostname", host])
        c.wait_for_agents(3)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def svc(cluster3: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicesProc]:
    d = tmp_path_factory.mktemp("services")
    proc = ServicesProc(cluster3.master_url, d / "state", d / "services.log")
    try:
        proc.wait_leading()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(autouse=True)
def no_apps_left(svc: ServicesProc, cluster3: LocalCluster) -> Iterator[None]:
    """Every test starts and ends with no app: its tasks are gone before the next one."""
    yield
    clear_apps(svc, cluster3)


def sleeper(app_id: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": n, **extra}


def test_invalid_definitions_are_422_naming_each_field(svc: ServicesProc) -> None:
    before = svc.call("GET", "/v2/apps")[1]
    status, doc = svc.call(
        "POST",
        "/v2/apps",
        {
            "id": "/Bad_Name",
            "cmd": "x",
            "cpus": -1,
            "instances": "three",
            "upgradeStrategy": {"minimumHealthCapacity": 2},
        },
    )
    assert status == 422, doc
    paths = {d["path"] for d in doc["details"]}
    assert {"/id", "/cpus", "/instances", "/upgradeStrategy/minimumHealthCapacity"} <= paths, doc
    status, doc = svc.call("POST", "/v2/apps", {"id": "/ok", "cmd": "x", "cpus": "lots"})
    assert status == 422 and [d["path"] for d in doc["details"]] == ["/cpus"]
    assert svc.call("GET", "/v2/apps")[1] == before
    assert svc.call("GET", "/v2/deployments")[1] == []


def test_unique_hostname_spreads_and_says_why_not(
    svc: ServicesProc, cluster3: LocalCluster
) -> None:
    status, doc = svc.call(
        "POST", "/v2/apps", sleeper("/uniq", 3, constraints=[["hostname", "UNIQUE"]])
    )
    assert status == 201, doc
    tasks = wait_until(lambda: running(svc, "/uniq", 3), 60, 0.2, "3 unique instances")
    assert sorted(t["host"] for t in tasks) == sorted(HOSTS)
    svc.call("PUT", "/v2/apps/uniq", {"instances": 4})
    seen: list[list[str]] = []

    def unique_reason() -> bool:
        seen.append(svc.call("GET", "/v2/apps/uniq/why")[1]["reasons"])
        return any("UNIQUE" in r for r in seen[-1])

    try:
        wait_until(unique_reason, 30, 0.2, "the UNIQUE reason")
    except TimeoutError:
        raise AssertionError(f"no UNIQUE reason; last reasons: {seen[-1:]}") from None
    status, dep = svc.call("GET", "/v2/deployments?embed=why")
    assert any(d["waiting"] for d in dep if "/uniq" in d["affectedApps"]), dep
    _, queue = svc.call("GET", "/v2/queue")
    assert [q["app"]["id"] for q in queue["queue"]] == ["/uniq"]
    assert svc.call("DELETE", "/v2/apps/uniq")[0] == 200
    wait_until(lambda: not running_at_master(cluster3, "uniq"), 30, 0.2, "uniq gone")


def test_failing_command_health_check_is_replaced(svc: ServicesProc, tmp_path: Path) -> None:
    check = {
        "protocol": "COMMAND",
        "command": {"value": f"test ! -e {tmp_path}/$MESOS_TASK_ID"},
        "gracePeriodSeconds": 30,
        "intervalSeconds": 1,
        "timeoutSeconds": 2,
        "maxConsecutiveFailures": 1,
    }
    assert svc.call("POST", "/v2/apps", sleeper("/checked", 2, healthChecks=[check]))[0] == 201

    def healthy() -> list[dict[str, Any]] | None:
        app = svc.app("/checked")
        return running(svc, "/checked", 2) if app and app["tasksHealthy"] == 2 else None

    tasks = wait_until(healthy, 60, 0.2, "2 healthy instances")
    sick, well = tasks[0]["id"], tasks[1]["id"]
    (tmp_path / sick).touch()
    after = wait_until(
        lambda: (t := healthy()) and sick not in {x["id"] for x in t} and t,
        60,
        0.2,
        "a replacement",
    )
    assert well in {t["id"] for t in after}
    svc.call("DELETE", "/v2/apps/checked")


def test_rolling_upgrade_good_then_bad_rolled_back(svc: ServicesProc) -> None:
    strategy = {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.5}
    svc.call("POST", "/v2/apps", sleeper("/roll", 2, upgradeStrategy=strategy))
    first = {t["id"] for t in wait_until(lambda: running(svc, "/roll", 2), 60, 0.2, "v1")}
    # A good version: every instance replaced.
    status, doc = svc.call("PUT", "/v2/apps/roll", {"cmd": "sleep 601"})
    assert status == 200 and doc["deploymentId"]
    second = wait_until(
        lambda: (t := running(svc, "/roll", 2)) and not first & {x["id"] for x in t} and t,
        90,
        0.2,
        "v2 everywhere",
    )
    v2 = {t["id"] for t in second}
    # A bad version: it can never be placed; the old instances stay.
    status, doc = svc.call("PUT", "/v2/apps/roll", {"cmd": "sleep 602", "cpus": 64})
    assert status == 200
    bad = doc["deploymentId"]

    def stuck() -> str | None:
        deps = svc.call("GET", "/v2/deployments?embed=why")[1]
        return next((d["waiting"] for d in deps if d["id"] == bad and d["waiting"]), None)

    reason = wait_until(stuck, 30, 0.2, "the bad deployment's reason")
    assert "cpus" in reason, reason
    assert svc.call("GET", "/v2/apps/roll/why")[1]["reasons"]
    status, doc = svc.call("PUT", "/v2/apps/roll", {"instances": 3})
    assert status == 409 and doc["deployments"] == [{"id": bad}]
    for _ in range(10):  # the old ones never went below minimumHealthCapacity (2 of 2)
        app = svc.app("/roll")
        assert app is not None
        assert {t["id"] for t in app["tasks"] if t["state"] == "TASK_RUNNING"} >= v2
    status, doc = svc.call("DELETE", f"/v2/deployments/{bad}")
    assert status == 200 and doc["deploymentId"] != bad
    back = wait_until(lambda: running(svc, "/roll", 2), 60, 0.2, "the rollback done")
    assert {t["id"] for t in back} == v2
    app = svc.app("/roll")
    assert app is not None and app["cmd"] == "sleep 601" and app["cpus"] == 0.1
    svc.call("DELETE", "/v2/apps/roll")


def test_n_kept_running_across_task_kills_and_agent_loss(
    svc: ServicesProc, cluster3: LocalCluster
) -> None:
    assert svc.call("POST", "/v2/apps", sleeper("/keep", 3))[0] == 201
    ids = {t["id"] for t in wait_until(lambda: running(svc, "/keep", 3), 60, 0.2, "3 up")}
    victim = sorted(ids)[0]
    os.kill(task_pid(victim), signal.SIGKILL)
    after_kill = wait_until(
        lambda: (t := running(svc, "/keep", 3)) and victim not in {x["id"] for x in t} and t,
        60,
        0.2,
        "a replacement for the killed task",
    )
    assert len({t["id"] for t in after_kill} - ids) == 1
    # An agent goes away with its tasks: they are replaced on the others.
    host = after_kill[0]["host"]
    agent = cluster3.agents[HOSTS.index(host)]
    cluster3.stop_agent(agent)
    final = wait_until(
        lambda: (t := running(svc, "/keep", 3)) and host not in {x["host"] for x in t} and t,
        90,
        0.2,
        "3 instances on the remaining agents",
    )
    assert len(final) == 3
    assert set(running_at_master(cluster3, "keep")) == {t["id"] for t in final}
