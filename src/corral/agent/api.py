"""The agent's HTTP API: v1 executor API, sandbox files, state, health."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from aiohttp import web

from corral import MESOS_COMPAT_VERSION, __version__, daemon_flags
from corral.agent import metrics
from corral.agent.agent import Agent
from corral.agent.core.events import ExecutorDisconnected, ExecutorMessage, ExecutorUpdate
from corral.agent.core.events import ExecutorSubscribed as CoreExecutorSubscribed
from corral.agent.core.state import ExecutorEntry, FrameworkEntry, TaskEntry
from corral.agent.executor_auth import check as check_token
from corral.agent.operator_views import containers, operator_response
from corral.agent.sandbox import confine, within
from corral.agent.sandbox_owner import sandbox_user
from corral.logs import http as logs_http
from corral.resources import from_wire
from corral.security import middleware as security
from corral.security.settings import agent_flags_off
from corral.security.tls import server_context
from corral.transport import files_calls
from corral.transport.files_calls import owner_names
from corral.transport.files_read import read_response
from corral.transport.http import (
    accepts_json,
    error,
    json_response,
    read_call,
)
from corral.transport.streaming import EventStream
from corral.wire import files_calls as fc
from corral.wire import operator as op
from corral.wire import state_views as sv
from corral.wire.codec import encode
from corral.wire.executor import ExecutorCall, ExecutorEvent
from corral.wire.tasks import TASK_STATES

EXECUTOR_HEARTBEAT = 30 * 60.0


def build_app(agent: Agent) -> web.Application:
    app = web.Application(client_max_size=64 << 20)
    api = AgentAPI(agent)
    for prefix in ("", "/slave(1)"):
        app.router.add_post(prefix + "/api/v1/executor", api.executor)
        app.router.add_get(prefix + "/state", api.state)
        app.router.add_get(prefix + "/state.json", api.state)
        app.router.add_get(prefix + "/health", api.health)
    app.router.add_post("/api/v1", api.operator)
    app.router.add_get("/containers", api.containers)
    app.router.add_get("/slave(1)/containers", api.containers)
    app.router.add_get("/version", api.version)
    app.router.add_get("/metrics", api.prometheus)
    app.router.add_get("/metrics/snapshot", api.metrics_snapshot)
    app.router.add_get("/files/browse", api.browse)
    app.router.add_get("/files/browse.json", api.browse)
    app.router.add_get("/files/read", api.read)
    app.router.add_get("/files/read.json", api.read)
    app.router.add_get("/files/download", api.download)
    app.router.add_get("/files/download.json", api.download)
    logs_http.add_routes(app, master=False)
    return app


class AgentAPI:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    # ------------------------------------------------------------------ executor API
    async def executor(self, request: web.Request) -> web.StreamResponse:
        call = await read_call(request, ExecutorCall, "executor::Call")
        if isinstance(call, web.Response):
            return call
        refused = self._authenticate(request, call)
        if refused is not None:
            return refused
        agent = self.agent
        fw = agent.frameworks.get(call.framework_id.value)
        if fw is None:
            return error(400, "Framework cannot be found")
        ex = fw.executors.get(call.executor_id.value)
        if ex is None or ex.kind != "custom":
            return error(400, "Executor cannot be found")
        if call.type == "SUBSCRIBE":
            if not accepts_json(request):
                return error(406, "Expected 'Accept' of 'application/json'")
            unacked = call.subscribe.unacknowledged_tasks if call.subscribe else []
            return await self._subscribe(request, ex, {t.task_id.value for t in unacked})
        if not ex.subscribed:
            return error(403, "Executor is not subscribed")
        if call.type == "UPDATE":
            if call.update is None:
                return error(
                    400, "Failed to validate executor::Call: Expecting 'update' to be present"
                )
            status = call.update.status
            if status.uuid is None or len(status.uuid) != 16:
                return error(
                    400, "Failed to validate executor::Call: 'status.uuid' must be 16 bytes"
                )
            if status.state not in TASK_STATES or status.state == "TASK_STAGING":
                return error(
                    400, f"Failed to validate executor::Call: invalid state {status.state!r}"
                )
            if status.executor_id is not None and status.executor_id.value != ex.executor_id:
                return error(
                    400, "Failed to validate executor::Call: 'status.executor_id' mismatch"
                )
            # Recorded, then acknowledged to the executor by the agent (not the scheduler).
            agent.feed(ExecutorUpdate(fw.framework_id, ex.executor_id, status))
            return web.Response(status=202)
        if call.type == "MESSAGE":
            if call.message is None:
                return error(
                    400, "Failed to validate executor::Call: Expecting 'message' to be present"
                )
            agent.feed(ExecutorMessage(fw.framework_id, ex.executor_id, call.message.data))
            return web.Response(status=202)
        if call.type == "HEARTBEAT":
            return web.Response(status=202)
        return error(400, f"Failed to validate executor::Call: unknown call type {call.type!r}")

    def _authenticate(self, request: web.Request, call: ExecutorCall) -> web.Response | None:
        """With --authenticate-http-executors: 401/403 unless the call carries the token of
        the executor it claims to be (executor_auth.py)."""
        agent, tokens = self.agent, self.agent.executor_tokens
        if tokens is None:
            return None
        fid, eid = call.framework_id.value, call.executor_id.value
        fw = agent.frameworks.get(fid)
        ex = fw.executors.get(eid) if fw is not None else None
        expected = tokens.of(fid, eid, ex.container_id) if ex is not None else None
        claimed = f"executor {eid!r} of framework {fid!r}"
        refusal = check_token(request.headers.get("Authorization"), expected, claimed)
        if refusal is None:
            return None
        return web.Response(status=refusal.status, text=refusal.message, headers=refusal.headers)

    async def _subscribe(
        self, request: web.Request, ex: ExecutorEntry, known: set[str]
    ) -> web.StreamResponse:
        """The executor's event stream: SUBSCRIBED and what waited for it (the core says
        what), then whatever the core sends it until it disconnects."""
        agent = self.agent
        key = (ex.framework_id, ex.executor_id)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        old = agent.executor_streams.pop(key, None)
        if old is not None:
            old.close()
        stream = EventStream(resp, encode(ExecutorEvent(type="HEARTBEAT")), EXECUTOR_HEARTBEAT)
        agent.executor_streams[key] = stream
        agent.feed(CoreExecutorSubscribed(key[0], key[1], frozenset(known)))
        await stream.run()
        if agent.executor_streams.get(key) is stream:
            del agent.executor_streams[key]
            agent.feed(ExecutorDisconnected(key[0], key[1]))
        return resp

    # ------------------------------------------------------------------ operator API
    async def operator(self, request: web.Request) -> web.Response:
        if (answer := await logs_http.logging_call(request)) is not None:
            return answer
        call = await read_call(request, op.OperatorCall, "agent::Call")
        if isinstance(call, web.Response):
            return call
        if call.type in fc.CALLS:
            body = await request.read()
            return files_calls.answer(body, "agent::Call", lambda p: self.resolve_path(p, request))
        if call.type not in op.AGENT_CALLS:
            return error(*op.unserved("agent::Call", call.type, op.MESOS_AGENT_CALLS))
        response = await operator_response(
            self.agent, call.type, agent_flags(self.agent), version_info()
        )
        return json_response(response)

    async def containers(self, request: web.Request) -> web.Response:
        return json_response(await containers(self.agent))

    # ------------------------------------------------------------------ state
    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def version(self, request: web.Request) -> web.Response:
        return json_response(version_info())

    async def metrics_snapshot(self, request: web.Request) -> web.Response:
        a = self.agent
        return json_response(metrics.snapshot(a.state, a.start_time, time.time()))

    async def prometheus(self, request: web.Request) -> web.Response:
        a = self.agent
        body = metrics.exposition(a.state, a.start_time, time.time())
        return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})

    async def state(self, request: web.Request) -> web.Response:
        return json_response(agent_state(self.agent))

    # ------------------------------------------------------------------ files
    def _resolve(self, request: web.Request) -> Path | web.Response:
        raw = request.query.get("path")
        if not raw:
            return error(400, "Missing 'path' query parameter")
        return self.resolve_path(raw, request)

    def resolve_path(self, raw: str, request: web.Request) -> Path | web.Response:
        """A ``/files`` path (a sandbox path, Mesos's virtual one, or ``/slave/log``) as a
        real path inside one sandbox, or the 404/403 to answer."""
        if raw == "/slave/log":
            return logs_http.resolve_log(raw)
        agent = self.agent
        root = agent.config.work_dir / "sandboxes"
        parts = raw.strip("/").split("/")
        if raw.startswith("/frameworks/") and len(parts) >= 6 and parts[2] == "executors":
            # Mesos's virtual path: /frameworks/<fid>/executors/<eid>/runs/<latest|cid>/...
            sandbox = agent.sandbox_of(parts[1], parts[3])
            if sandbox is None:
                return error(404, "File not found")
            real = within(sandbox, "/".join(parts[6:]))
        else:
            real = confine(root, raw)
        if real is None or not real.exists():
            return error(404, "File not found")
        if agent.config.security.acls is not None:  # access_sandboxes, by the sandbox's user
            user = sandbox_user(agent.state, root, real)
            denied = security.check(request, "access_sandboxes", user)
            if denied is not None:
                return denied
        return real

    async def browse(self, request: web.Request) -> web.Response:
        path = self._resolve(request)
        if isinstance(path, web.Response):
            return path
        if not path.is_dir():
            return json_response([file_info(path)])
        return json_response([file_info(p) for p in sorted(path.iterdir())])

    async def read(self, request: web.Request) -> web.Response:
        path = self._resolve(request)
        if isinstance(path, web.Response):
            return path
        return read_response(path, request.query)

    async def download(self, request: web.Request) -> web.StreamResponse:
        path = self._resolve(request)
        if isinstance(path, web.Response):
            return path
        if path.is_dir():
            return error(400, "Cannot download a directory")
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})


def file_info(p: Path) -> sv.FileInfo:
    st = p.lstat()
    user, group = owner_names(st)
    return sv.FileInfo(
        path=str(p),
        nlink=st.st_nlink,
        size=st.st_size,
        mtime=int(st.st_mtime),
        mode=stat.filemode(st.st_mode),
        uid=user,
        gid=group,
    )


def version_info() -> sv.VersionInfo:
    """``/version`` of the agent and the master."""
    return sv.VersionInfo(version=MESOS_COMPAT_VERSION, corral_version=__version__)


def state_task(t: TaskEntry, agent: Agent) -> sv.StateTask:
    return sv.StateTask(
        id=t.task_id,
        name=t.info.name,
        framework_id=t.framework_id,
        executor_id=t.executor_id or "",
        slave_id=agent.agent_id or "",
        state=t.state,
        resources=from_wire(t.info.resources).to_legacy(),
    )


def framework_state(fw: FrameworkEntry, agent: Agent) -> sv.AgentStateFramework:
    executors: dict[str, sv.AgentStateExecutor] = {}
    for completed, tasks in ((False, fw.tasks.values()), (True, fw.completed)):
        for t in tasks:
            eid = t.executor_id or t.task_id
            ex = executors.get(eid)
            if ex is None:
                ex = executors[eid] = sv.AgentStateExecutor(
                    id=eid, name=eid, source=eid, directory=str(t.sandbox)
                )
            (ex.completed_tasks if completed else ex.tasks).append(state_task(t, agent))
    return sv.AgentStateFramework(
        id=fw.framework_id,
        name=fw.info.name,
        user=fw.info.user,
        executors=list(executors.values()),
        completed_executors=[],
    )


def agent_flags(agent: Agent) -> dict[str, str]:
    return {
        **daemon_flags.recorded(),  # every flag the agent was started with; then its config
        "master": daemon_flags.redact("master", agent.config.master),
        "work_dir": str(agent.config.work_dir),
        "port": str(agent.config.port),
        "containerizers": ",".join(agent.containerizers.names()),
        "switch_user": str(agent.users.switch_user).lower(),
        "authenticate_http_executors": str(agent.executor_tokens is not None).lower(),
    }


def agent_state(agent: Agent) -> sv.AgentState:
    now = time.time()
    return sv.AgentState(
        version=MESOS_COMPAT_VERSION,
        id=agent.agent_id or "",
        pid=f"slave(1)@{agent.address}",
        hostname=agent.hostname,
        start_time=agent.start_time,
        resources=agent.config.resources.to_legacy(),
        attributes=dict(agent.config.attributes),
        master_hostname=agent.master_info.hostname if agent.master_info else None,
        flags=agent_flags(agent),
        containerizers=agent.containerizers.names(),
        frameworks=[framework_state(fw, agent) for fw in agent.frameworks.values()],
        completed_frameworks=[framework_state(fw, agent) for fw in agent.completed_frameworks],
        launcher_pid=agent.launcher.pid,
        time=now,
        uptime=now - agent.start_time,
        registered=agent.registered.is_set(),
        pending_status_updates=len(agent.updates.streams),
        used_resources=agent.used_resources().to_legacy(),
    )


async def serve(agent: Agent, host: str, port: int) -> web.AppRunner:
    app = build_app(agent)
    sec = agent.config.security
    security.install(app, sec)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    ssl = server_context(sec.tls_cert, sec.tls_key or sec.tls_cert) if sec.tls_cert else None
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl)
    security.warn_if_open("agent", host, agent_flags_off(sec))
    await site.start()
    return runner


__all__ = ["agent_state", "build_app", "serve", "version_info"]
