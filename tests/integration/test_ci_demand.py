"""The ci framework's generic demand API against a real cluster, and its page in Chromium:
agents made for starving builds up to the maximum, busy ones drained, never killed, idle
ones removed, a full cluster said, bad input refused naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_harness import CiProcess, request

from browser import browser_page
from corral.testing import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TEMPLATES = """\
[[template]]
name = "linux"
labels = ["linux"]
cpus = 0.1
mem = 32
max = 2
provision-delay = 1
idle-termination = 2
command = "sleep 600"

[[template]]
name = "huge"
labels = ["huge"]
cpus = 64
mem = 32
max = 1
provision-delay = 0
command = "sleep 600"
"""


@pytest.fixture(scope="module")
def ci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CiProcess]:
    tmp: Path = tmp_path_factory.mktemp("ci")
    with LocalCluster(1, agent_flags=["--status-update-retry", "1"]) as cluster:
        proc = CiProcess(cluster, tmp, TEMPLATES).start()
        try:
            yield proc
        finally:
            proc.stop()


def agents(ci: CiProcess) -> dict[str, dict[str, object]]:
    return {a["name"]: a for a in ci.get("/v1/agents")}


def test_demand_busy_idle_and_drain(ci: CiProcess) -> None:
    status, _ = request("POST", ci.url + "/v1/demand", {"labels": ["linux"], "count": 3})
    assert status == 200
    got = ci.wait(
        lambda: (
            (a := agents(ci))
            and all(x["state"] == "idle" for x in a.values())
            and len(a) == 2
            and a
        ),
        60,
        what="two idle agents",
    )
    assert set(got) == {"linux-1", "linux-2"}  # the maximum, though 3 builds wait
    reasons = [d["reason"] for d in ci.get("/v1/decisions")]
    assert any("at its maximum" in r for r in reasons), reasons
    assert ci.get("/v1/status")["registered"]
    # linux-1 runs a build; the queue empties; linux-2 idles out, linux-1 stays.
    assert request("POST", ci.url + "/v1/agents/linux-1/report", {"busy": 1})[0] == 200
    request("POST", ci.url + "/v1/demand", {"labels": ["linux"], "count": 0})
    ci.wait(lambda: set(agents(ci)) == {"linux-1"}, 60, what="the idle agent removed")
    assert agents(ci)["linux-1"]["state"] == "busy"
    # Asked to go while busy: it drains, then goes once idle.
    status, body = request("DELETE", ci.url + "/v1/agents/linux-1")
    assert (status, body["state"]) == (200, "draining")
    assert agents(ci)["linux-1"]["state"] == "draining"
    request("POST", ci.url + "/v1/agents/linux-1/report", {"busy": 0})
    ci.wait(lambda: not agents(ci), 60, what="the drained agent removed")
    ci.wait(lambda: not ci.get("/v1/status")["registered"], 60, what="unregistering")


def test_a_full_cluster_is_said_and_shown(ci: CiProcess) -> None:
    request("POST", ci.url + "/v1/demand", {"labels": ["huge"], "count": 1, "source": "t"})

    def full() -> bool:
        return any("cluster full" in d["reason"] for d in ci.get("/v1/decisions"))

    ci.wait(full, 60, what="the cluster-full wait")
    (a,) = ci.get("/v1/agents")
    assert a["state"] == "pending" and "needs cpus 64" in a["note"]
    with browser_page() as page:
        page.goto(ci.url + "/")
        page.wait_for_selector("text=Cluster full for huge")
        assert "pending" in page.inner_text("#agents")
        assert "registered with the master" in page.inner_text("#status")
        text = page.inner_text("#decisions")
        assert "create" in text and "remove" in text and "drain" in text
        assert "huge" in page.inner_text("#templates")
    request("POST", ci.url + "/v1/demand", {"labels": ["huge"], "count": 0, "source": "t"})
    request("DELETE", ci.url + "/v1/agents/" + a["name"])
    ci.wait(lambda: not ci.get("/v1/agents"), 60, what="the pending agent dropped")


def test_bad_input_names_the_field(ci: CiProcess) -> None:
    status, body = request("POST", ci.url + "/v1/demand", {"labels": ["x"], "count": "two"})
    assert status == 422 and "count" in body["message"]
    status, body = request("POST", ci.url + "/v1/agents", {"name": "w", "template": "nope"})
    assert status == 422 and "template" in body["message"]
    status, body = request("POST", ci.url + "/v1/agents/ghost/report", {"busy": 1})
    assert status == 404 and "ghost" in body["message"]


def test_the_polling_adapter_reports_a_queue(ci: CiProcess) -> None:
    import subprocess
    import sys

    def adapter(queue: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "corral.frameworks.ci.adapter",
                "--ci-url",
                ci.url,
                "--source",
                "poller",
                "--once",
                "--queue-command",
                f"printf '{queue}'",
            ],
            check=True,
            timeout=30,
            capture_output=True,
        )

    adapter("arm 2\\nlinux 1\\n")
    got = {
        (tuple(d["labels"]), d["count"]) for d in ci.get("/v1/demand") if d["source"] == "poller"
    }
    assert got == {(("arm",), 2), (("linux",), 1)}
    reasons = [d["reason"] for d in ci.get("/v1/decisions")]
    assert any("labels arm: no template has them" in r for r in reasons), reasons
    # Builds gone from the queue are set back to 0 (by the same poller, on its next poll).
    request("POST", ci.url + "/v1/demand", {"labels": ["arm"], "count": 0, "source": "poller"})
    request("POST", ci.url + "/v1/demand", {"labels": ["linux"], "count": 0, "source": "poller"})
    assert not [d for d in ci.get("/v1/demand") if d["source"] == "poller"]
    ci.wait(lambda: not ci.get("/v1/agents"), 60, what="no agent left")


def test_a_restart_keeps_running_agents(ci: CiProcess, tmp_path: Path) -> None:
    own = CiProcess(ci.cluster, tmp_path, TEMPLATES).start()  # its own store
    try:
        restart(own)
    finally:
        own.stop()


def restart(ci: CiProcess) -> None:
    request("POST", ci.url + "/v1/demand", {"labels": ["linux"], "count": 1, "source": "r"})
    (name,) = ci.wait(
        lambda: [a["name"] for a in ci.get("/v1/agents") if a["state"] == "idle"],
        60,
        what="an idle agent",
    )
    # The build leaves the queue and runs on the agent (a build still queued beside a busy
    # agent would rightly be given a second one).
    request("POST", ci.url + "/v1/demand", {"labels": ["linux"], "count": 0, "source": "r"})
    request("POST", ci.url + f"/v1/agents/{name}/report", {"busy": 1})
    task = ci.get(f"/v1/agents/{name}")["task_id"]
    framework = ci.get("/v1/status")["framework_id"]
    ci.stop()  # SIGTERM while an agent runs: the framework fails over, the task keeps running
    ci.start()
    ci.wait(lambda: ci.get("/v1/status")["registered"], 60, what="re-registering")
    assert ci.get("/v1/status")["framework_id"] == framework
    assert {a["name"] for a in ci.get("/v1/agents")} == {name}
    again = ci.get(f"/v1/agents/{name}")
    assert again["task_id"] == task and again["state"] in ("busy", "idle")
    request("POST", ci.url + f"/v1/agents/{name}/report", {"busy": 0})
    ci.wait(lambda: not ci.get("/v1/agents"), 60, what="the agent removed after the restart")
