"""Authentication and ACLs on a real cluster: one master with every --authenticate-* flag,
--credentials and --acls; agents, the SDK, pymesos and operators with and without
credentials."""

from __future__ import annotations

import asyncio
import base64
import getpass
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from corral.resources import parse
from corral.scheduler_client.driver import CallFailed, Scheduler, SchedulerDriver
from corral.security.client import ClientSecurity
from corral.testing import LocalCluster, wait_until
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import CommandInfo, TaskInfo, TaskStatus

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
ME = getpass.getuser()
SECRETS = {
    "agent": "agent-secret",
    "fw-a": "secret-a",
    "fw-b": "secret-b",
    "ops": "ops-secret",
    "outsider": "outsider-secret",
}
ACLS = {
    "register_agents": [{"principals": {"values": ["agent"]}}],
    "register_frameworks": [
        {"principals": {"values": ["fw-a"]}, "roles": {"values": ["a"]}},
        {"principals": {"values": ["fw-b"]}, "roles": {"type": "ANY"}},
    ],
    "run_tasks": [{"principals": {"type": "ANY"}, "users": {"values": [ME]}}],
    "teardown_frameworks": [
        {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}
    ],
    "view_frameworks": [
        {"principals": {"values": ["ops", "fw-a", "fw-b"]}, "users": {"type": "ANY"}}
    ],
    "view_tasks": [{"principals": {"values": ["ops", "fw-a", "fw-b"]}, "users": {"type": "ANY"}}],
}
SANDBOX_RULE = {"principals": {"values": ["ops"]}, "users": {"values": [ME]}}


def private(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    return path


def basic(principal: str) -> dict[str, str]:
    token = base64.b64encode(f"{principal}:{SECRETS[principal]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def request(
    url: str, principal: str | None = None, body: object | None = None, **headers: str
) -> tuple[int, str]:
    h = dict(headers)
    if principal is not None:
        h.update(basic(principal))
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    d = tmp_path_factory.mktemp("security")
    creds = private(
        d / "credentials.json",
        {"credentials": [{"principal": p, "secret": x} for p, x in SECRETS.items()]},
    )
    acls = d / "acls.json"
    acls.write_text(json.dumps(ACLS))
    own = private(d / "agent.json", {"principal": "agent", "secret": SECRETS["agent"]})
    agent_acls = d / "agent-acls.json"
    agent_acls.write_text(json.dumps({"access_sandboxes": [SANDBOX_RULE]}))
    cluster = LocalCluster(
        agents=0,
        master_flags=[
            "--authenticate-frameworks",
            "--authenticate-agents",
            "--authenticate-http-readonly",
            "--authenticate-http-readwrite",
            "--credentials",
            str(creds),
            "--acls",
            str(acls),
        ],
    )
    try:
        cluster.start_master()
        cluster.add_agent(
            wait=False,
            extra_flags=[
                "--credential",
                str(own),
                "--credentials",
                str(creds),
                "--acls",
                str(agent_acls),
            ],
        )

        def one_agent() -> bool:
            status, body = request(f"{cluster.url}/master/slaves", "ops")
            return status == 200 and len(json.loads(body)["slaves"]) == 1

        wait_until(one_agent, 30, what="the agent with a credential to register")
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("principal", [None, "outsider"])
def test_agent_without_a_credential_or_denied_is_refused_and_says_why(
    secure: LocalCluster, principal: str | None, tmp_path: Path
) -> None:
    flags = []
    if principal is not None:  # authenticates, but register_agents does not name it
        own = private(tmp_path / "own.json", {"principal": principal, "secret": SECRETS[principal]})
        flags = ["--credential", str(own)]
    agent = secure.add_agent(wait=False, extra_flags=flags)
    status = 401 if principal is None else 403
    try:
        wait_until(
            lambda: f"refused this agent (HTTP {status})" in agent.log.read_text(),
            20,
            what="the agent's log to say the master refused it",
        )
        status, body = request(f"{secure.url}/master/slaves", "ops")
        assert status == 200 and len(json.loads(body)["slaves"]) == 1
    finally:
        secure.stop_agent(agent)


@pytest.mark.parametrize("path", ["/master/state", "/master/tasks", "/metrics/snapshot", "/"])
def test_reads_need_credentials(secure: LocalCluster, path: str) -> None:
    status, _ = request(secure.url + path)
    assert status == 401
    req = urllib.request.Request(
        secure.url + path,
        headers={"Authorization": "Basic " + base64.b64encode(b"ops:no").decode()},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401 and "Basic realm" in e.value.headers["WWW-Authenticate"]
    status, _ = request(secure.url + path, "ops")
    assert status == 200


def test_operator_calls_need_credentials_and_health_does_not(secure: LocalCluster) -> None:
    url = f"{secure.url}/api/v1"
    assert request(url, None, {"type": "GET_HEALTH"})[0] == 401
    assert request(url, "ops", {"type": "GET_HEALTH"})[0] == 200
    assert request(f"{secure.url}/health")[0] == 200


def subscribe_body(principal: str | None, role: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "user": ME,
        "name": "raw",
        "roles": [role],
        "capabilities": [{"type": "MULTI_ROLE"}],
    }
    if principal:
        info["principal"] = principal
    return {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}


def test_subscribe_without_credentials_is_401(secure: LocalCluster) -> None:
    url = f"{secure.url}/api/v1/scheduler"
    status, _ = request(url, None, subscribe_body(None, "a"), Accept="application/json")
    assert status == 401


def test_subscribe_in_a_role_the_acls_deny_is_403_naming_the_rule(secure: LocalCluster) -> None:
    url = f"{secure.url}/api/v1/scheduler"
    status, body = request(url, "fw-a", subscribe_body("fw-a", "b"), Accept="application/json")
    assert status == 403
    assert "register_frameworks" in body and "'b'" in body and "fw-a" in body
    # ... and a principal that differs from the one authenticated
    status, body = request(url, "fw-a", subscribe_body("fw-b", "a"), Accept="application/json")
    assert status == 403 and "principal" in body
    log = secure.masters[0].log.read_text()
    assert "not authorized to register_frameworks" in log


class Recorder(Scheduler):
    def __init__(self, launch_as: str | None = None, command: str = "true") -> None:
        self.command = command
        self.launch_as = launch_as
        self.launched = False
        self.statuses: list[TaskStatus] = []

    async def offers(self, driver: SchedulerDriver, offers: list[s.Offer]) -> None:
        if self.launch_as is None or self.launched:
            await driver.decline([o.id.value for o in offers], 60)
            return
        self.launched = True
        o = offers[0]
        task = TaskInfo(
            name="as-user",
            task_id=ID("as-user"),
            agent_id=o.agent_id,
            resources=parse("cpus:0.1;mem:32").to_wire(),
            command=CommandInfo(value=self.command, user=self.launch_as),
        )
        await driver.launch([o.id.value], [task])

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.statuses.append(status)


async def run_driver(
    master: str, principal: str, role: str, sched: Scheduler, until: Any, what: str
) -> SchedulerDriver:
    info = FrameworkInfo(
        user=ME,
        name=f"sdk-{principal}",
        roles=[role],
        capabilities=[{"type": "MULTI_ROLE"}],  # type: ignore[list-item]
    )
    driver = SchedulerDriver(
        master, info, sched, security=ClientSecurity(principal, SECRETS[principal])
    )
    task = asyncio.get_running_loop().create_task(driver.run())
    try:
        for _ in range(200):
            if until(driver):
                return driver
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")
    except BaseException:
        await driver.stop(failover=True)
        task.cancel()
        raise
    finally:
        driver._run_task = task  # type: ignore[attr-defined]


async def stop_driver(driver: SchedulerDriver, failover: bool = False) -> None:
    await driver.stop(failover=failover)
    task: asyncio.Task[None] = driver._run_task  # type: ignore[attr-defined]
    try:
        await asyncio.wait_for(task, 10)
    except (asyncio.CancelledError, Exception):
        pass


async def test_sdk_with_credentials_subscribes_and_a_denied_user_gets_task_error(
    secure: LocalCluster,
) -> None:
    sched = Recorder(launch_as="daemon" if ME != "daemon" else "nobody")
    driver = await run_driver(
        secure.master,
        "fw-a",
        "a",
        sched,
        lambda d: any(st.state == "TASK_ERROR" for st in sched.statuses),
        "TASK_ERROR for the denied user",
    )
    try:
        (st,) = [st for st in sched.statuses if st.state == "TASK_ERROR"]
        assert st.reason == "REASON_TASK_UNAUTHORIZED"
        assert st.message is not None and "run_tasks" in st.message and "fw-a" in st.message
    finally:
        await stop_driver(driver)


async def test_a_cannot_tear_down_bs_framework_and_ops_can(secure: LocalCluster) -> None:
    driver = await run_driver(
        secure.master, "fw-b", "b", Recorder(), lambda d: d.framework_id is not None, "subscribed"
    )
    try:
        fid = driver.framework_id
        url = f"{secure.url}/api/v1"
        call = {"type": "TEARDOWN", "teardown": {"framework_id": {"value": fid}}}
        assert (await asyncio.to_thread(request, url, None, call))[0] == 401
        status, body = await asyncio.to_thread(request, url, "fw-a", call)
        assert status == 403 and "teardown_frameworks" in body
        state = json.loads(
            (await asyncio.to_thread(request, f"{secure.url}/master/state", "ops"))[1]
        )
        assert fid in [f["id"] for f in state["frameworks"]]
        # an authenticated principal the view ACLs do not name sees no framework
        other = json.loads(
            (await asyncio.to_thread(request, f"{secure.url}/master/state", "outsider"))[1]
        )
        assert other["frameworks"] == []
        assert (await asyncio.to_thread(request, url, "ops", call))[0] == 200
        state = json.loads(
            (await asyncio.to_thread(request, f"{secure.url}/master/state", "ops"))[1]
        )
        assert fid not in [f["id"] for f in state["frameworks"]]
    finally:
        await stop_driver(driver, failover=True)


def pymesos(master: str, principal: str, secret: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "pymesos_auth.py"), master, principal, secret, "15"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = proc.stderr
    return result


def test_pymesos_with_credentials_registers_and_without_is_refused(secure: LocalCluster) -> None:
    ok = pymesos(secure.master, "fw-b", SECRETS["fw-b"])
    assert ok["subscribed"], ok["stderr"][-2000:]
    refused = pymesos(secure.master, "-", "-")
    assert not refused["subscribed"]
    assert "HTTP 401" in (refused["error"] or refused["stderr"])


async def test_sandboxes_only_for_principals_the_agents_acls_name(secure: LocalCluster) -> None:
    sched = Recorder(launch_as=ME, command="echo hello > out.txt; sleep 30")
    driver = await run_driver(
        secure.master,
        "fw-b",
        "b",
        sched,
        lambda d: any(st.state == "TASK_RUNNING" for st in sched.statuses),
        "the task to run",
    )
    try:
        agent = secure.agents[0]
        path = f"/frameworks/{driver.framework_id}/executors/as-user/runs/latest"
        url = f"http://127.0.0.1:{agent.port}/files/browse?path={path}"

        def names(principal: str) -> list[str]:
            status, body = request(url, principal)
            assert status == 200, body
            return [os.path.basename(f["path"]) for f in json.loads(body)]

        await asyncio.to_thread(wait_until, lambda: "out.txt" in names("ops"), 15)
        status, body = await asyncio.to_thread(request, url, "fw-a")
        assert status == 403 and "access_sandboxes" in body and ME in body
        status, body = await asyncio.to_thread(request, url)
        assert status == 403 and "anonymous" in body
        wrong = "Basic " + base64.b64encode(b"ops:wrong").decode()
        status, _ = await asyncio.to_thread(request, url, None, None, Authorization=wrong)
        assert status == 401
    finally:
        await stop_driver(driver)  # TEARDOWN: the agent kills the task; wait until it has
        await asyncio.to_thread(
            wait_until, lambda: not task_processes(), 15, what="the task to be killed"
        )


def task_processes() -> list[int]:
    return [
        p.pid
        for p in psutil.Process().children(recursive=True)
        if "out.txt" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE
    ]


class Errors(Scheduler):
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self.errors.append(message)


@pytest.mark.parametrize("secret", [None, "wrong"])
async def test_sdk_without_or_with_wrong_credentials_gets_401(
    secure: LocalCluster, secret: str | None
) -> None:
    sched = Errors()
    info = FrameworkInfo(user=ME, name="sdk-refused")
    sec = ClientSecurity("fw-a", secret) if secret else ClientSecurity()
    driver = SchedulerDriver(secure.master, info, sched, security=sec)
    with pytest.raises(CallFailed) as e:
        await asyncio.wait_for(driver.run(), 20)
    assert e.value.status == 401
    assert sched.errors and "uthenticat" in sched.errors[0]


def test_no_secret_in_views_flags_or_logs(secure: LocalCluster) -> None:
    seen = [
        request(f"{secure.url}/master/state", "ops")[1],
        request(f"{secure.url}/api/v1", "ops", {"type": "GET_FLAGS"})[1],
        request(f"{secure.url}/api/v1", "ops", {"type": "GET_STATE"})[1],
        secure.masters[0].log.read_text(),
        *(a.log.read_text() for a in secure.agents),
    ]
    for text in seen:
        for secret in SECRETS.values():
            assert secret not in text
