"""Health checks and checks run by the agent next to real tasks that turn unhealthy."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest
from recorder import Recorder, connected, sandbox_of, task

from corral.resources import parse
from corral.testing import LocalCluster, http_json
from corral.wire.tasks import CheckInfo, HealthCheck, TaskStatus

pytestmark = pytest.mark.integration

# Serves 200 on its port while there is no file "sick" in its sandbox, then 500.
HTTP_SERVER = r"""
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500 if os.path.exists('sick') else 200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT0'])), H).serve_forever()
"""

# Listens on its port until the file "sick" appears, then stops listening (and keeps running).
TCP_SERVER = r"""
import os, socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(os.environ['PORT0'])))
s.listen(16)
s.settimeout(0.05)
while not os.path.exists('sick'):
    try:
        s.accept()[0].close()
    except OSError:
        pass
s.close()
time.sleep(600)
"""

FAST = {"delay_seconds": 0, "interval_seconds": 0.2, "timeout_seconds": 2}


def health_updates(rec: Recorder, tid: str) -> list[TaskStatus]:
    return [u for u in rec.updates if u.task_id.value == tid and u.healthy is not None]


async def run_until_killed(
    cluster: LocalCluster, tid: str, command: str, hc: dict[str, object]
) -> list[TaskStatus]:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = task(tid, offer, command, parse("cpus:0.1;mem:64;ports:[31100-31100]"))
        t.health_check = msgspec.convert(hc, HealthCheck)
        await driver.launch([offer.id.value], [t])
        await rec.wait_for(
            lambda: any(u.healthy for u in health_updates(rec, tid)), 20, f"{tid} healthy"
        )
        healthy = health_updates(rec, tid)[0]
        assert healthy.state == "TASK_RUNNING"
        assert healthy.reason == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
        Path(sandbox_of(cluster, tid), "sick").touch()
        killed = await rec.wait_state(tid, "TASK_KILLED", 20)
        assert killed.healthy is False
        assert killed.message is not None and "consecutive health check failures" in killed.message
        return [u for u in rec.updates if u.task_id.value == tid]


def assert_turned_unhealthy(updates: list[TaskStatus], failures: int) -> None:
    running = [u for u in updates if u.state == "TASK_RUNNING" and u.healthy is not None]
    # One healthy report (only on the change), then one unhealthy report per failure.
    assert [u.healthy for u in running] == [True] + [False] * failures, running
    assert all(u.reason == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED" for u in running)
    assert updates[-1].state == "TASK_KILLED"


async def test_http_health_check_kills_a_task_that_turns_unhealthy(cluster: LocalCluster) -> None:
    hc = {
        "type": "HTTP",
        "http": {"port": 31100, "path": "/health"},
        "consecutive_failures": 2,
        **FAST,
    }
    updates = await run_until_killed(cluster, "web", f'{sys.executable} -c "{HTTP_SERVER}"', hc)
    assert_turned_unhealthy(updates, 2)
    unhealthy = [u for u in updates if u.healthy is False and u.state == "TASK_RUNNING"]
    assert unhealthy[0].message is not None and "500" in unhealthy[0].message


async def test_tcp_health_check(cluster: LocalCluster) -> None:
    hc = {"type": "TCP", "tcp": {"port": 31100}, "consecutive_failures": 3, **FAST}
    updates = await run_until_killed(cluster, "tcp", f'{sys.executable} -c "{TCP_SERVER}"', hc)
    assert_turned_unhealthy(updates, 3)


async def test_command_health_check_runs_in_the_task_sandbox(cluster: LocalCluster) -> None:
    # The command sees the task's environment and working directory; under the linux
    # containerizer it runs in the task's pid namespace, where the task is pid 1.
    probe = 'tr "\\0" " " </proc/1/cmdline >saw; test "$MESOS_TASK_ID" = cmd && test ! -e sick'
    hc = {"type": "COMMAND", "command": {"value": probe}, "consecutive_failures": 1, **FAST}
    updates = await run_until_killed(cluster, "cmd", "sleep 600", hc)
    assert_turned_unhealthy(updates, 1)
    state = http_json(f"http://127.0.0.1:{cluster.agents[0].port}/state")
    if state["flags"]["containerizers"].startswith("linux"):
        saw = Path(sandbox_of(cluster, "cmd"), "saw").read_text()
        assert "sleep 600" in saw, saw  # not the host's pid 1


async def test_failures_in_the_grace_period_are_not_counted(cluster: LocalCluster) -> None:
    # Unhealthy from the start, inside a long grace period: never reported, never killed.
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = task("slow", offer, "sleep 600")
        t.health_check = msgspec.convert(
            {
                "type": "COMMAND",
                "command": {"value": "false"},
                "grace_period_seconds": 60,
                "consecutive_failures": 1,
                **FAST,
            },
            HealthCheck,
        )
        checked = msgspec.convert(
            {
                "type": "COMMAND",
                "command": {"command": {"value": "exit $(cat code || echo 0)"}},
                **FAST,
            },
            CheckInfo,
        )
        t.check = checked
        await driver.launch([offer.id.value], [t])

        def exit_codes() -> list[int | None]:
            return [
                u.check_status.command.exit_code
                for u in rec.updates
                if u.check_status is not None
                and u.check_status.command is not None
                and u.reason == "REASON_TASK_CHECK_STATUS_UPDATED"
            ]

        await rec.wait_for(lambda: exit_codes() == [0], 20, "check status 0")
        Path(sandbox_of(cluster, "slow"), "code").write_text("3")
        await rec.wait_for(lambda: exit_codes() == [0, 3], 20, "check status 3")
        assert not health_updates(rec, "slow")
        assert rec.states("slow")[-1] == "TASK_RUNNING"  # a check never kills
        await driver.kill("slow")
        killed = await rec.wait_state("slow", "TASK_KILLED")
        assert killed.check_status is not None and killed.check_status.command is not None
        assert killed.check_status.command.exit_code == 3


async def test_an_invalid_health_check_is_a_task_error(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = task("bad", offer, "sleep 1")
        t.health_check = msgspec.convert({"type": "HTTP"}, HealthCheck)
        await driver.launch([offer.id.value], [t])
        err = await rec.wait_state("bad", "TASK_ERROR")
        assert err.message == "health_check.http: a HTTP check needs it"


async def test_http_health_check_reaches_a_task_in_its_own_network_namespace() -> None:
    flags = ["--containerizers", "linux", "--isolation", "network/private"]
    try:
        c = LocalCluster(1, agent_flags=["--status-update-retry", "1", *flags])
        c.__enter__()
    except Exception as exc:  # no linux containerizer here
        pytest.skip(f"network/private unavailable: {exc}")
    try:
        hc = {"type": "HTTP", "http": {"port": 31100}, "consecutive_failures": 2, **FAST}
        updates = await run_until_killed(c, "ns", f'{sys.executable} -c "{HTTP_SERVER}"', hc)
        assert_turned_unhealthy(updates, 2)
    finally:
        c.__exit__(None, None, None)


async def test_probes_resume_after_the_agent_restarts(cluster: LocalCluster) -> None:
    # The agent restarts while a probed task runs; the new agent probes it again, so the task
    # still gets killed when it turns unhealthy.
    hc = {"type": "COMMAND", "command": {"value": "test ! -e sick"}, **FAST}
    hc["consecutive_failures"] = 1
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = task("kept", offer, "sleep 600")
        t.health_check = msgspec.convert(hc, HealthCheck)
        await driver.launch([offer.id.value], [t])
        await rec.wait_for(
            lambda: any(u.healthy for u in health_updates(rec, "kept")), 20, "kept healthy"
        )
        sandbox = sandbox_of(cluster, "kept")
        agent = cluster.agents[0]
        cluster.kill_agent(agent)
        cluster.restart_agent(agent)
        Path(sandbox, "sick").touch()
        killed = await rec.wait_state("kept", "TASK_KILLED", 30)
        assert killed.healthy is False
        assert killed.message is not None and "consecutive health check failures" in killed.message
