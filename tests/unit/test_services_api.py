"""The services API's HTTP layer over an in-memory stand-in for the ``Services`` facade:
routing (ids with slashes, ``//``), query flags, Marathon's error shapes and wrappers, and
the real marathon 0.13.0 client parsing every answer (its models are strict)."""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from corral.frameworks.services.api import make_app
from corral.frameworks.services.api_apps import split
from corral.frameworks.services.api_context import Api
from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.codec import now_version
from corral.frameworks.services.events import EventBus, EventQueue
from corral.frameworks.services.views import (
    AlreadyExists,
    AppView,
    DeploymentResult,
    DeploymentView,
    InstanceView,
    Locked,
    NotFound,
    QueueItem,
)

collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]  # client bug §2.3/10


class FakeServices:
    """Apps in a dict; every instance runs at once; ``locked`` apps raise Locked."""

    def __init__(self) -> None:
        self.defs: dict[str, list[AppDefinition]] = {}
        self.locked: set[str] = set()
        self.bus = EventBus()
        self.framework_id: str | None = "fw-1"
        self.killed: list[str] = []
        self.cancelled: list[tuple[str, bool]] = []
        self._clock = itertools.count(1_700_000_000)
        self._dep = itertools.count(1)

    def _stamp(self, app: AppDefinition) -> AppDefinition:
        return msgspec.structs.replace(app, version=now_version(next(self._clock)))

    def _result(self) -> DeploymentResult:
        return DeploymentResult(f"dep-{next(self._dep)}", now_version(next(self._clock)))

    def _instances(self, d: AppDefinition) -> list[InstanceView]:
        return [
            InstanceView(
                task_id=f"{d.id.strip('/').replace('/', '_')}.{i}",
                app_id=d.id,
                version=d.version or "",
                agent_id="agent-1",
                host="127.0.0.1",
                ports=[31000 + i],
                state="TASK_RUNNING",
                staged_at="2026-01-01T00:00:00.000Z",
                started_at="2026-01-01T00:00:01.000Z",
                healthy=True if d.health_checks else None,
                health_message=None,
            )
            for i in range(d.instances)
            if f"{d.id.strip('/').replace('/', '_')}.{i}" not in self.killed
        ]

    def apps(self) -> list[AppView]:
        return [v for v in (self.app(i) for i in sorted(self.defs)) if v is not None]

    def app(self, app_id: str) -> AppView | None:
        if app_id not in self.defs:
            return None
        d = self.defs[app_id][0]
        inst = self._instances(d)
        deps = ["dep-locked"] if app_id in self.locked else []
        return AppView(d, 0, len(inst), 0, 0, deps, inst, None, None)

    def versions(self, app_id: str) -> list[str]:
        return [d.version or "" for d in self.defs.get(app_id, [])]

    def version(self, app_id: str, version: str) -> AppDefinition | None:
        return next((d for d in self.defs.get(app_id, []) if d.version == version), None)

    def instances(self, app_id: str | None = None) -> list[InstanceView]:
        ids = [app_id] if app_id else sorted(self.defs)
        return [t for i in ids if i in self.defs for t in self._instances(self.defs[i][0])]

    def deployments(self) -> list[DeploymentView]:
        return [
            DeploymentView(
                "dep-locked",
                "2026-01-01T00:00:00.000Z",
                [a],
                [[("ScaleApplication", a)]],
                1,
                [("ScaleApplication", a)],
                "needs cpus 8, largest free on any agent is 4",
            )
            for a in sorted(self.locked)
        ]

    def queue(self) -> list[QueueItem]:
        return [
            QueueItem(a, 1, 0.0, False, "2026-01-01T00:00:00.000Z", "no offers yet")
            for a in sorted(self.locked)
        ]

    def why(self, app_id: str) -> list[str]:
        return ["no offers yet"] if app_id in self.locked else []

    def _check(self, ids: list[str], force: bool) -> None:
        if not force and any(i in self.locked for i in ids):
            raise Locked([i for i in ids if i in self.locked], ["dep-locked"])

    async def put_apps(
        self, apps: list[AppDefinition], *, force: bool = False, create: bool = True
    ) -> DeploymentResult:
        self._check([a.id for a in apps], force)
        for a in apps:
            if a.id not in self.defs and not create:
                raise NotFound.app(a.id)
            self.defs.setdefault(a.id, []).insert(0, self._stamp(a))
        return self._result()

    async def create_app(self, app: AppDefinition, *, force: bool = False) -> DeploymentResult:
        if app.id in self.defs:
            raise AlreadyExists(app.id)
        return await self.put_apps([app], force=force)

    async def delete_apps(self, app_ids: list[str], *, force: bool = False) -> DeploymentResult:
        self._check(app_ids, force)
        for a in app_ids:
            self.defs.pop(a)
        return self._result()

    async def restart(self, app_id: str, *, force: bool = False) -> DeploymentResult:
        self._check([app_id], force)
        self.defs[app_id].insert(0, self._stamp(self.defs[app_id][0]))
        return self._result()

    async def scale_group(
        self, group_id: str, factor: float, *, force: bool = False
    ) -> DeploymentResult:
        for a in list(self.defs):
            if a.startswith(group_id.rstrip("/") + "/"):
                d = self.defs[a][0]
                self.defs[a].insert(
                    0,
                    self._stamp(msgspec.structs.replace(d, instances=round(d.instances * factor))),
                )
        return self._result()

    async def kill(
        self, task_ids: list[str], *, scale: bool = False, wipe: bool = False, force: bool = False
    ) -> list[InstanceView] | DeploymentResult:
        before = {t.task_id: t for t in self.instances()}
        self.killed += task_ids
        if scale:
            return self._result()
        return [before[t] for t in task_ids if t in before]

    async def cancel_deployment(
        self, deployment_id: str, *, force: bool = False
    ) -> DeploymentResult | None:
        self.cancelled.append((deployment_id, force))
        self.locked.clear()
        return None if force else self._result()

    async def reset_delay(self, app_id: str) -> None:
        pass

    def subscribe(self) -> EventQueue:
        return self.bus.subscribe()

    def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        self.bus.publish(event_type, payload)


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeServices, str]]:
    fake = FakeServices()
    server = TestServer(make_app(Api(fake)), host="127.0.0.1")  # type: ignore[arg-type]
    await server.start_server()
    try:
        yield fake, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def call(method: str, url: str, body: Any = None, **kw: Any) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as http:
        data = (
            body
            if isinstance(body, (bytes, str))
            else (None if body is None else msgspec.json.encode(body))
        )
        async with http.request(method, url, data=data, **kw) as r:
            text = await r.read()
            try:
                doc = msgspec.json.decode(text) if text else None
            except msgspec.DecodeError:
                doc = text.decode()
            return r.status, doc, r.headers


def test_split_finds_the_app_and_the_suffix() -> None:
    assert split("/team/web/tasks/team_web.1") == ("team/web", "tasks", "team_web.1")
    assert split("//foo") == ("foo", "", "")
    assert split("/foo/versions/2026-01-01T00:00:00.000Z") == (
        "foo",
        "versions",
        "2026-01-01T00:00:00.000Z",
    )
    assert split("/a/restart") == ("a", "restart", "")
    assert split("") == ("", "", "")


async def test_create_get_and_error_shapes(served: tuple[FakeServices, str]) -> None:
    fake, url = served
    status, doc, headers = await call(
        "POST", url + "/v2/apps?force=False", {"id": "web", "cmd": "sleep 100", "instances": 2}
    )
    assert status == 201, doc
    assert doc["id"] == "/web" and doc["tasksRunning"] == 2 and "Marathon-Deployment-Id" in headers
    assert headers["Location"] == "/v2/apps/web"
    status, doc, _ = await call("POST", url + "/v2/apps", {"id": "web", "cmd": "x"})
    assert status == 409 and doc == {"message": "An app with id [/web] already exists."}
    status, doc, _ = await call("GET", url + "/v2/apps/nope")
    assert status == 404 and doc == {"message": "App '/nope' does not exist"}
    status, doc, _ = await call("POST", url + "/v2/apps", b"{not json")
    assert status == 400 and doc["message"] == "Invalid JSON"
    status, doc, _ = await call(
        "POST", url + "/v2/apps", {"id": "/Bad_Id", "cpus": -1, "instances": "x"}
    )
    assert status == 422 and doc["message"] == "Object is not valid"
    paths = {d["path"] for d in doc["details"]}
    assert {"/id", "/cpus", "/instances"} <= paths, doc
    assert list(fake.defs) == ["/web"]  # nothing changed
    status, doc, _ = await call("GET", url + "/v2/apps//web")  # the client's double slash
    assert status == 200 and doc["app"]["tasks"][0]["id"] == "web.0"
    status, doc, _ = await call("GET", url + "/v2/apps?force=maybe")
    assert status == 200  # force is not read by the list
    status, doc, _ = await call("DELETE", url + "/v2/apps/web?force=maybe")
    assert status == 400 and "force" in doc["message"]
    status, doc, _ = await call("GET", url + "/v2/nothing")
    assert status == 404 and "message" in doc


async def test_locked_update_is_a_409_with_deployments(served: tuple[FakeServices, str]) -> None:
    fake, url = served
    await call("POST", url + "/v2/apps", {"id": "/a/b", "cmd": "sleep 1"})
    fake.locked.add("/a/b")
    status, doc, _ = await call("PUT", url + "/v2/apps/a/b", {"instances": 3})
    assert status == 409 and doc["deployments"] == [{"id": "dep-locked"}]
    status, doc, headers = await call("PUT", url + "/v2/apps/a/b?force=TRUE", {"instances": 3})
    assert status == 200 and headers["Marathon-Deployment-Id"] == doc["deploymentId"]
    assert fake.defs["/a/b"][0].instances == 3 and fake.defs["/a/b"][0].cmd == "sleep 1"
    status, doc, _ = await call("GET", url + "/v2/deployments")
    assert isinstance(doc, list) and "waiting" not in doc[0]
    status, doc, _ = await call("GET", url + "/v2/deployments?embed=why")
    assert doc[0]["waiting"].startswith("needs cpus 8")
    status, doc, _ = await call("GET", url + "/v2/apps/a/b/why")
    assert doc == {"app": "/a/b", "reasons": ["no offers yet"]}
    status, doc, _ = await call("GET", url + "/v2/queue?embed=why")
    assert doc["queue"][0]["reason"] == "no offers yet"
    status, doc, _ = await call("DELETE", url + "/v2/deployments/dep-locked?force=true")
    assert status == 202 and doc is None
    status, doc, _ = await call("DELETE", url + "/v2/deployments/nope")
    assert status == 404


async def test_events_stream_starts_attached(served: tuple[FakeServices, str]) -> None:
    _fake, url = served
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/v2/events", headers={"Accept": "text/event-stream"}) as r,
    ):
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = await r.content.readuntil(b"\n\n")
        assert first.startswith(b"event: event_stream_attached\ndata: {")
        await call("POST", url + "/v2/apps", {"id": "e", "cmd": "sleep 1"})
        second = await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5)
        payload = msgspec.json.decode(second.split(b"data: ", 1)[1])
        assert payload["eventType"] == "api_post_event" and payload["timestamp"].endswith("Z")
    status, _doc, _ = await call("GET", url + "/v2/events?event_type=bogus")
    assert status == 400


async def test_the_marathon_client_parses_every_answer(served: tuple[FakeServices, str]) -> None:
    from marathon import MarathonApp, MarathonClient
    from marathon.exceptions import MarathonHttpError

    _fake, url = served

    def drive() -> None:
        c = MarathonClient([url])
        created = c.create_app(
            "flat", MarathonApp(cmd="sleep 100", instances=2, labels={"team": "a"})
        )
        assert created and created.id == "/flat"
        assert [a.id for a in c.list_apps(embed_tasks=True, label="team==a")] == ["/flat"]
        assert c.list_apps(cmd="nothing-like-it") == []
        app = c.get_app("flat")
        assert app.tasks_running == 2 and len(app.tasks) == 2
        c.scale_app("flat", instances=3)  # PUT /v2/apps//flat
        assert c.get_app("/flat").instances == 3
        assert len(c.list_tasks("flat")) == 3 and len(c.list_tasks()) == 3
        killed = c.kill_tasks("flat", scale=False)
        assert len(killed) == 3
        with pytest.raises(MarathonHttpError, match="unknown task ids"):
            c.kill_given_tasks(["flat.0"])  # killed already: unknown now, a 400

    await asyncio.to_thread(drive)

    def more() -> None:
        c = MarathonClient([url])
        c.restart_app("flat", force=False)
        assert c.list_versions("flat")
        v = c.list_versions("flat")[-1]
        assert c.get_version("flat", v).id == "/flat"
        assert c.list_deployments() == []
        assert c.list_queue() == []
        info = c.get_info()
        assert info.framework_id == "fw-1" and info.http_config is not None
        assert c.ping().strip() in (b"pong", b'"pong"')
        assert isinstance(c.get_metrics(), dict)
        assert c.list_groups() == [] or c.list_groups()
        c.delete_app("flat", force=False)
        assert c.list_apps() == []

    await asyncio.to_thread(more)


def test_every_api_path_is_in_the_openapi_table() -> None:
    from corral.frameworks.services import openapi
    from corral.frameworks.services.api import PATHS

    missing = []
    for line in PATHS:
        *methods, path = line.split()
        if path == "/" or path.startswith("/ui"):
            continue  # the page, not the API
        missing += [f"{m} {path}" for m in methods if m.lower() not in openapi.PATHS.get(path, {})]
    assert not missing


async def test_page_and_openapi_are_served(served: tuple[FakeServices, str]) -> None:
    _, url = served
    status, doc, headers = await call("GET", url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    status, doc, _ = await call("GET", url + "/ui/../api.py")
    assert status == 404
    status, doc, _ = await call("GET", url + "/openapi.json")
    assert status == 200 and "/v2/apps" in doc["paths"]


async def test_a_command_waits_for_a_fresh_leader_to_reconcile() -> None:
    from corral.frameworks.services.views import NotLeader

    fake = FakeServices()
    ready = asyncio.Event()
    real = fake.create_app

    async def create_app(app: AppDefinition, *, force: bool = False) -> DeploymentResult:
        if not ready.is_set():
            raise NotLeader("still reconciling")
        return await real(app, force=force)

    fake.create_app = create_app  # type: ignore[method-assign]
    api = Api(fake, leading=ready.is_set, elected=lambda: True)  # type: ignore[arg-type]
    server = TestServer(make_app(api), host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        asyncio.get_running_loop().call_later(0.3, ready.set)
        status, doc, _ = await call("POST", url + "/v2/apps", {"id": "late", "cmd": "x"})
        assert status == 201, doc
        ready.clear()
        api.settle_seconds = 0.2
        status, doc, _ = await call("POST", url + "/v2/apps", {"id": "later", "cmd": "x"})
        assert status == 503 and doc == {"message": "still reconciling"}
    finally:
        await server.close()


async def test_groups_tasks_text_and_queue_delay(served: tuple[FakeServices, str]) -> None:
    fake, url = served
    group = {"id": "/team", "apps": [{"id": "web", "cmd": "sleep 1", "instances": 2}]}
    status, doc, headers = await call("POST", url + "/v2/groups", group)
    assert status == 201 and headers["Marathon-Deployment-Id"] == doc["deploymentId"], doc
    assert list(fake.defs) == ["/team/web"]
    assert (await call("POST", url + "/v2/groups", group))[0] == 409
    status, doc, _ = await call("GET", url + "/v2/groups/team?embed=group.apps.tasks")
    assert doc["id"] == "/team" and doc["apps"][0]["id"] == "/team/web"
    assert len(doc["apps"][0]["tasks"]) == 2
    status, doc, _ = await call("GET", url + "/v2/groups")
    assert doc["id"] == "/" and doc["groups"][0]["id"] == "/team"
    assert (await call("PUT", url + "/v2/groups/team", {"scaleBy": 2}))[0] == 200
    assert fake.defs["/team/web"][0].instances == 4
    assert (await call("PUT", url + "/v2/groups/team", {"scaleBy": "x"}))[0] == 422
    status, doc, _ = await call("GET", url + "/v2/apps/team/*")
    assert [a["id"] for a in doc["*"]] == ["/team/web"]
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/v2/tasks?status=running", headers={"Accept": "text/plain"}) as r,
    ):
        lines = (await r.text()).splitlines()
    assert lines[0].split("\t")[0] == "/team/web" and len(lines[0].split("\t")) == 6
    assert (await call("GET", url + "/v2/tasks?status=bogus"))[0] == 400
    assert (await call("DELETE", url + "/v2/queue/team/web/delay"))[0] == 204
    assert (await call("DELETE", url + "/v2/queue/nope/delay"))[0] == 404
    assert (await call("DELETE", url + "/v2/groups/team"))[0] == 200
    assert fake.defs == {}
    assert (await call("GET", url + "/v2/groups/team"))[0] == 404
