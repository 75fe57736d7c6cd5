"""Fuzzing every route of a real master, agent, services and jobs framework: malformed,
oversized and random bodies, headers, query strings and path parameters (hypothesis). No
answer is a 5xx (but 501 "not implemented" and 503 "not the leader"), no process dies, and no
rejected call changes the state. The figures are in docs/security.md."""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from corral.testing import LocalCluster, free_port, http_json, wait_until

pytestmark = pytest.mark.integration

EXAMPLES = 3000  # per run; see docs/security.md
ALLOWED_5XX = {501, 503}
READ_FOR = 2.0  # seconds a body is read (event streams never end)
STREAMS = {"/v2/events", "/master/agent", "/ui/api/events"}  # long-lived answers: headers only


def master_routes() -> list[tuple[str, str]]:
    from corral.master.core.config import MasterConfig
    from corral.master.server import MasterProcess, build_app

    return routes_of(build_app(MasterProcess(MasterConfig())))


def agent_routes(tmp: Path) -> list[tuple[str, str]]:
    from corral.agent.agent import Agent, AgentConfig
    from corral.agent.api import build_app
    from corral.resources import parse

    config = AgentConfig(master="127.0.0.1:1", work_dir=tmp, resources=parse("cpus:1;mem:64"))
    return routes_of(build_app(Agent(config)))


def routes_of(app: Any) -> list[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if path:
            out.add((route.method, path))
    return sorted(out)


def openapi_routes(base: str) -> list[tuple[str, str]]:
    doc = http_json(f"{base}/openapi.json")
    return sorted(
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE")
    )


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with LocalCluster(1) as cluster:
        services, jobs = free_port(), free_port()
        cluster.start_framework("services", services, ["--work-dir", str(tmp / "services")])
        cluster.start_framework("jobs", jobs, ["--work-dir", str(tmp / "jobs")])
        s_url, j_url = f"http://127.0.0.1:{services}", f"http://127.0.0.1:{jobs}"
        wait_until(lambda: http_json(f"{s_url}/v2/info")["elected"], 30, what="services lead")
        wait_until(lambda: http_json(f"{j_url}/leader"), 30, what="jobs lead")
        agent = f"127.0.0.1:{cluster.agents[0].port}"
        yield {
            "cluster": cluster,
            "routes": [("master", cluster.master, m, p) for m, p in master_routes()]
            + [("agent", agent, m, p) for m, p in agent_routes(tmp / "agent-routes")]
            + [("services", s_url[7:], m, p) for m, p in openapi_routes(s_url)]
            + [("jobs", j_url[7:], m, p) for m, p in openapi_routes(j_url)],
            "services": s_url,
            "jobs": j_url,
        }


def observed(t: dict[str, Any]) -> dict[str, Any]:
    """What a rejected call must not change."""
    cluster: LocalCluster = t["cluster"]
    state = http_json(f"http://{cluster.master}/master/state")
    return {
        "frameworks": sorted(f["id"] for f in state["frameworks"]),
        "agents": sorted((a["id"], a["active"]) for a in state["slaves"]),
        "tasks": sorted(t["id"] for f in state["frameworks"] for t in f["tasks"]),
        "apps": sorted(a["id"] for a in http_json(f"{t['services']}/v2/apps")["apps"]),
        "jobs": sorted(j["name"] for j in http_json(f"{t['jobs']}/scheduler/jobs")),
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=5),
    max_leaves=20,
)  # fmt: skip
# Bodies shaped like the real ones (a "type" a call might have, fields that exist) reach
# deeper than noise does.
FIELDS = ["id", "name", "cmd", "command", "schedule", "instances", "framework_id",
          "agent_id", "subscribe", "accept", "kill", "drain_agent", "parents", "cpus"]  # fmt: skip
TYPES = ["SUBSCRIBE", "ACCEPT", "DECLINE", "KILL", "GET_STATE", "DRAIN_AGENT", "TEARDOWN",
         "MARK_AGENT_GONE", "REACTIVATE_AGENT", "SUBSCRIBED", "UPDATE", "MESSAGE"]  # fmt: skip
shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional=dict.fromkeys(FIELDS, json_values),
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 4).map(lambda n: b"[" * (20_000 * n) + b"]" * (20_000 * n)),  # deep
    st.integers(1, 3).map(lambda n: b'{"x": "' + b"a" * (1 << 20) * n + b'"}'),  # oversized
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-protobuf",
        "text/plain",
        "",
        "application/json; x=\x01",
        "multipart/form-data; boundary=--",
    ]
)
param = st.one_of(
    st.text(min_size=1, max_size=20).map(lambda s: urllib.parse.quote(s, safe="")),
    st.sampled_from(["..", "%2e%2e", "a" * 300, "%00", "-1", "0", "web"]),
)
queries = st.dictionaries(
    st.sampled_from(
        [
            "path",
            "offset",
            "length",
            "embed",
            "limit",
            "name",
            "state",
            "level",
            "duration",
            "force",
            "jsonp",
            "x",
        ]
    ),
    st.text(max_size=20),
    max_size=4,
)


def send(host: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    """The status of one request; the body is read for up to ``READ_FOR`` seconds (an event
    stream, such as an operator SUBSCRIBE, never ends)."""
    addr, _, port = host.partition(":")
    conn = HTTPConnection(addr, int(port), timeout=15)
    try:
        conn.request(method, path, body=body if method != "GET" else None, headers=headers)
        resp = conn.getresponse()
        if path.split("?")[0] in STREAMS:
            return resp.status
        deadline = time.monotonic() + READ_FOR
        if conn.sock is not None:
            conn.sock.settimeout(READ_FOR)
        with contextlib.suppress(TimeoutError):
            while time.monotonic() < deadline and resp.read1(1 << 16):
                pass
        return resp.status
    except (ConnectionResetError, BrokenPipeError):
        return 413  # an oversized body refused before it was read
    except (TimeoutError, HTTPException) as exc:
        raise AssertionError(f"{method} {path}: no answer ({exc!r})") from None
    finally:
        conn.close()


def test_no_route_answers_5xx_or_dies(targets: dict[str, Any]) -> None:
    routes = targets["routes"]
    assert len(routes) > 80, len(routes)
    before = observed(targets)
    tried: list[tuple[str, str, int]] = []
    accepted: list[tuple[str, str, int]] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # report the first failure as found
    )
    @given(
        route=st.sampled_from(routes),
        fill=param,
        body=bodies,
        ctype=content_types,
        query=queries,
        stream_id=st.one_of(
            st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
        ),
    )
    def one(route: tuple[str, str, str, str], fill: str, body: bytes, ctype: str,
            query: dict[str, str], stream_id: str | None) -> None:  # fmt: skip
        where, host, method, template = route
        path = re.sub(r"\{[^}]+\}", fill, template)
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Content-Type": ctype} if ctype else {}
        if stream_id is not None:
            headers["Mesos-Stream-Id"] = stream_id
        status = send(host, method, path, body, headers)
        tried.append((where, method, status))
        assert status < 500 or status in ALLOWED_5XX, f"{where} {method} {path}: {status}"
        if 200 <= status < 300 and method != "GET":
            accepted.append((where, f"{method} {path}", status))

    one()
    cluster: LocalCluster = targets["cluster"]
    for proc in [*cluster.masters, *cluster.agents, *cluster.frameworks]:
        assert proc.popen is not None and proc.popen.poll() is None, f"{proc.name} died"
    assert observed(targets) == before, accepted  # random input creates, deletes nothing
    by_where: dict[str, int] = {}
    for where, _, _ in tried:
        by_where[where] = by_where.get(where, 0) + 1
    print(f"fuzz: {len(tried)} requests over {len(routes)} routes {by_where}; "
          f"accepted writes: {accepted}")  # fmt: skip
