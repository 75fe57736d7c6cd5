"""The unmodified PyPI ``marathon`` client (0.13.0) drives a real ``corral services``
against a real cluster of 2 agents: create, list, get, scale, kill tasks, restart,
deployments, queue, info, ping, the event stream, delete. Also Buildbot's
``MarathonLatentWorker`` request (no cmd, a DOCKER image) gets its 201 and its 200."""

from __future__ import annotations

import collections
import collections.abc
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from services_api_proc import ServicesProc, clear_apps

from corral.testing import LocalCluster, wait_until

# The client's Python >= 3.10 bug (reference §2.3 item 10): nested models serialize only
# with this alias. The client itself is not modified.
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon import MarathonApp, MarathonClient  # noqa: E402
from marathon.exceptions import NotFoundError  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.compat]


@pytest.fixture(scope="module")
def cluster2m() -> Iterator[LocalCluster]:
    with LocalCluster(
        2,
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
        agent_flags=["--status-update-retry", "1"],
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def svc_proc(
    cluster2m: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServicesProc]:
    d = tmp_path_factory.mktemp("compat")
    proc = ServicesProc(cluster2m.master_url, d / "state", d / "services.log")
    try:
        proc.wait_leading()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def svc(svc_proc: ServicesProc, cluster2m: LocalCluster) -> Iterator[ServicesProc]:
    """The module's services process; each test leaves no app (nor task) behind."""
    yield svc_proc
    clear_apps(svc_proc, cluster2m)


def running(c: MarathonClient, app_id: str, n: int) -> list[Any] | None:
    app = c.get_app(app_id)
    tasks = [t for t in app.tasks if t.state == "TASK_RUNNING"]
    return tasks if len(tasks) == n and not app.deployments else None


def test_the_marathon_client_end_to_end(svc: ServicesProc) -> None:
    c = MarathonClient([svc.url], timeout=10)
    events: queue.Queue[Any] = queue.Queue()

    def listen() -> None:
        try:
            for event in c.event_stream():
                events.put(event)
        except Exception as exc:  # the stream ends when the server stops
            events.put(exc)

    threading.Thread(target=listen, daemon=True).start()
    first = events.get(timeout=10)
    assert type(first).__name__ == "MarathonEventStreamAttached", first

    assert c.ping().strip() == b"pong"
    info = c.get_info()
    assert info.elected and info.http_config.http_port == svc.port

    created = c.create_app(
        "client-app", MarathonApp(cmd="sleep 600", cpus=0.1, mem=32, instances=2, labels={"k": "v"})
    )
    assert created and created.id == "/client-app"
    kinds = set()
    while "MarathonApiPostEvent" not in kinds:
        kinds.add(type(events.get(timeout=10)).__name__)
    assert [a.id for a in c.list_apps(label="k==v", embed_counts=True)] == ["/client-app"]
    tasks = wait_until(lambda: running(c, "client-app", 2), 60, 0.2, "2 instances")
    assert all(isinstance(t.service_ports, list) for t in tasks), tasks
    # The core's events parse in the client too (an unknown type or shape ends its stream).
    while "MarathonStatusUpdateEvent" not in kinds:
        event = events.get(timeout=10)
        assert not isinstance(event, Exception), event
        kinds.add(type(event).__name__)

    c.scale_app("client-app", instances=3)  # PUT /v2/apps//client-app
    wait_until(lambda: running(c, "client-app", 3), 60, 0.2, "3 instances")
    assert len(c.list_tasks("client-app")) == 3

    victim = c.list_tasks("client-app")[0].id
    assert c.kill_task("client-app", victim, scale=True)
    wait_until(lambda: running(c, "client-app", 2), 60, 0.2, "scaled down by the kill")
    assert c.get_app("client-app").instances == 2
    before = {t.id for t in c.list_tasks("client-app")}
    killed = c.kill_tasks("client-app")
    assert {t.id for t in killed} == before
    wait_until(
        lambda: (t := running(c, "client-app", 2)) and not before & {x.id for x in t},
        60,
        0.2,
        "replacements",
    )

    c.restart_app("client-app")
    assert isinstance(c.list_deployments(), list)
    assert isinstance(c.list_queue(), list)
    wait_until(lambda: running(c, "client-app", 2), 60, 0.2, "restarted")
    assert len(c.list_versions("client-app")) >= 4

    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    assert not [e for e in seen if isinstance(e, Exception)], seen
    assert c.delete_app("client-app")
    wait_until(lambda: not c.list_apps(), 30, 0.2, "deleted")
    with pytest.raises(NotFoundError):
        c.get_app("client-app")


def test_buildbot_marathon_latent_worker_request(svc: ServicesProc) -> None:
    """MarathonLatentWorker's own calls: POST without cmd and with a DOCKER image -> 201
    with JSON; DELETE -> 200; DELETE of an unknown app -> 404 with a JSON message."""
    body = {
        "id": "buildbot-worker/buildbot-w1-abc123",
        "instances": 1,
        "env": {"BUILDMASTER": "127.0.0.1", "WORKERNAME": "w1", "WORKERPASS": "x"},
        "container": {
            "type": "DOCKER",
            "docker": {"image": "buildbot/buildbot-worker", "network": "BRIDGE"},
        },
    }
    status, doc = svc.call("POST", "/v2/apps", body)
    assert status == 201, doc
    assert doc["id"] == "/buildbot-worker/buildbot-w1-abc123"
    status, doc = svc.call("DELETE", "/v2/apps/buildbot-worker/buildbot-w1-abc123")
    assert status == 200 and doc["deploymentId"]
    status, doc = svc.call("DELETE", "/v2/apps/buildbot-worker/buildbot-w1-abc123")
    assert status == 404 and "does not exist" in doc["message"]
