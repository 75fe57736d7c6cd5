"""App definitions in and out: every error path, legacy forms, TOML, the marathon client."""

from __future__ import annotations

import collections
import collections.abc
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from corral.frameworks.services.appdef import AppDefinition, VersionInfo
from corral.frameworks.services.codec import (
    Invalid,
    load_app_file,
    now_version,
    parse_app,
    parse_json_body,
    render_app,
    status_of,
)
from corral.frameworks.services.ids import normalize_group_id, normalize_id, parent_of
from corral.frameworks.services.openapi import PATHS, openapi_document

collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]  # marathon 0.13.0 on 3.10+
from marathon.models import MarathonApp  # noqa: E402


def errors_of(doc: object, **kw: Any) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as info:
        parse_app(doc, **kw)
    assert info.value.message == "Object is not valid"
    assert status_of(info.value) == 422
    return {d.path: d.errors for d in info.value.details}


FULL: dict[str, Any] = {
    "id": "/team/web",
    "cmd": "python3 -m http.server $PORT0",
    "cpus": 0.5,
    "mem": 64,
    "disk": 10,
    "instances": 3,
    "env": {"A": "1"},
    "labels": {"tier": "web"},
    "fetch": [{"uri": "http://x/a.tgz", "destPath": "a.tgz"}],
    "portDefinitions": [{"port": 0, "name": "http", "labels": {"VIP_0": "x"}}],
    "constraints": [["hostname", "UNIQUE"], ["rack", "MAX_PER", 2], "zone:LIKE:eu-.*"],
    "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0}],
    "backoffSeconds": 2,
    "backoffFactor": 1.5,
    "maxLaunchDelaySeconds": 60,
    "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
    "killSelection": "OLDEST_FIRST",
    "dependencies": ["../db"],
    "unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 20},
    "taskKillGracePeriodSeconds": 5,
}


def test_full_definition_parses_with_its_values() -> None:
    app = parse_app(FULL)
    assert app.id == "/team/web" and app.cpus == 0.5 and app.mem == 64.0 and app.instances == 3
    assert app.constraints == [
        ["hostname", "UNIQUE"],
        ["rack", "MAX_PER", "2"],
        ["zone", "LIKE", "eu-.*"],
    ]
    assert app.dependencies == ["/db"]
    assert app.fetch[0].dest_path == "a.tgz" and app.fetch[0].extract
    assert app.upgrade_strategy.maximum_over_capacity == 0.2
    assert app.unreachable_strategy is not None
    assert app.unreachable_strategy.expunge_after_seconds == 20
    assert app.health_checks[0].protocol == "MESOS_HTTP"


def test_defaults_are_marathons() -> None:
    app = parse_app({"id": "a", "cmd": "sleep 1"})
    assert (app.cpus, app.mem, app.disk, app.instances) == (1.0, 128.0, 0.0, 1)
    assert (app.backoff_seconds, app.backoff_factor, app.max_launch_delay_seconds) == (
        1.0,
        1.15,
        300.0,
    )
    assert app.kill_selection == "YOUNGEST_FIRST"
    assert [p.port for p in app.port_definitions] == [0]  # one port under host networking
    assert app.unreachable_strategy is None


def test_every_bad_field_is_named() -> None:
    errs = errors_of(
        {
            "id": "Bad_Id",
            "cpus": -1,
            "mem": "lots",
            "disk": -2,
            "instances": -1,
            "killSelection": "RANDOM",
            "constraints": [["hostname", "NEAR"], ["rack", "MAX_PER"]],
            "upgradeStrategy": {"minimumHealthCapacity": 1.5, "maximumOverCapacity": -0.1},
            "healthChecks": [{"protocol": "HTTP", "portIndex": 2}],
            "backoffFactor": 0.5,
            "cmd": "x",
        }
    )
    assert set(errs) >= {
        "/id",
        "/cpus",
        "/mem",
        "/disk",
        "/instances",
        "/killSelection",
        "/constraints/0",
        "/constraints/1",
        "/upgradeStrategy/minimumHealthCapacity",
        "/upgradeStrategy/maximumOverCapacity",
        "/healthChecks/0/portIndex",
        "/backoffFactor",
    }
    assert "unknown operator 'NEAR'" in errs["/constraints/0"][0]
    assert "needs a value" in errs["/constraints/1"][0]
    assert "lowercase" in errs["/id"][0]
    assert "is 2, but the app has 1 port" in errs["/healthChecks/0/portIndex"][0]


def test_command_rules() -> None:
    assert "/" in errors_of({"id": "a"})
    assert "mutually exclusive" in errors_of({"id": "a", "cmd": "x", "args": ["y"]})["/"][0]
    assert parse_app({"id": "a", "args": ["sleep", "1"]}).args == ["sleep", "1"]
    img = {"id": "a", "container": {"type": "DOCKER", "docker": {"image": "busybox"}}}
    assert parse_app(img).container is not None
    assert "/container/docker/image" in errors_of({"id": "a", "container": {"type": "DOCKER"}})


def test_type_errors_nested_and_unknown_fields() -> None:
    errs = errors_of(
        {
            "id": "a",
            "cmd": "x",
            "env": {"A": 1},
            "labels": "nope",
            "container": {"type": "DOCKER", "docker": {"image": 3}, "volumes": [{"mode": "RO"}]},
            "cpu": 1,
            "healthChecks": [{"protocol": "GRPC"}],
            "portDefinitions": [{"port": 70000, "protocol": "sctp"}],
            "fetch": [{"extract": True}],
        }
    )
    assert errs["/env/A"] == ["Expected `str`, got `int`"]
    assert "/labels" in errs and "/container/docker/image" in errs
    assert errs["/container/volumes/0/containerPath"] == ["is required"]
    assert errs["/cpu"] == ["unknown field"]
    assert "/healthChecks/0/protocol" in errs
    assert "/portDefinitions/0/port" in errs and "/portDefinitions/0/protocol" in errs
    assert errs["/fetch/0/uri"] == ["is required"]


def test_unsupported_fields_say_so() -> None:
    errs = errors_of(
        {
            "id": "a",
            "cmd": "x",
            "secrets": {"s": {"source": "x"}},
            "env": {"S": {"secret": "s"}},
            "readinessChecks": [{"name": "r"}],
        }
    )
    assert "not supported" in errs["/secrets"][0]
    assert "not supported" in errs["/env/S"][0]
    assert "not supported" in errs["/readinessChecks"][0]
    # read-only keys a client echoes back are ignored, empty unsupported ones too
    app = parse_app(
        {
            "id": "a",
            "cmd": "x",
            "tasks": [],
            "tasksRunning": 2,
            "secrets": {},
            "deployments": [{"id": "d"}],
            "version": "2026-01-01T00:00:00.000Z",
        }
    )
    assert app.version is None


def test_health_check_rules() -> None:
    errs = errors_of(
        {"id": "a", "cmd": "x", "portDefinitions": [], "healthChecks": [{"protocol": "TCP"}]}
    )
    assert "the app has 0 ports" in errs["/healthChecks/0/portIndex"][0]
    errs = errors_of({"id": "a", "cmd": "x", "healthChecks": [{"protocol": "COMMAND"}]})
    assert "/healthChecks/0/command" in errs
    errs = errors_of(
        {
            "id": "a",
            "cmd": "x",
            "healthChecks": [
                {"protocol": "HTTP", "maxConsecutiveFailures": -1, "intervalSeconds": 0}
            ],
        }
    )
    assert {"/healthChecks/0/maxConsecutiveFailures", "/healthChecks/0/intervalSeconds"} <= set(
        errs
    )
    errs = errors_of({"id": "a", "cmd": "x", "healthChecks": [{}, {"protocol": "TCP"}]})
    assert "/healthChecks" in errs
    for proto in ("HTTPS", "MESOS_HTTPS", "MESOS_TCP", "HTTP", "TCP"):
        parse_app({"id": "a", "cmd": "x", "healthChecks": [{"protocol": proto}]})
    ok = parse_app(
        {
            "id": "a",
            "cmd": "x",
            "portDefinitions": [],
            "healthChecks": [{"protocol": "TCP", "port": 8080}],
        }
    )
    assert ok.health_checks[0].port == 8080


def test_unreachable_and_misc_rules() -> None:
    assert (
        parse_app({"id": "a", "cmd": "x", "unreachableStrategy": "disabled"}).unreachable_strategy
        is None
    )
    errs = errors_of(
        {
            "id": "a",
            "cmd": "x",
            "unreachableStrategy": {"inactiveAfterSeconds": 30, "expungeAfterSeconds": 10},
            "executor": "/usr/bin/my-executor",
            "acceptedResourceRoles": ["a", "b"],
            "taskKillGracePeriodSeconds": -1,
        }
    )
    assert {
        "/unreachableStrategy/expungeAfterSeconds",
        "/executor",
        "/acceptedResourceRoles",
        "/taskKillGracePeriodSeconds",
    } <= set(errs)


def test_legacy_forms() -> None:
    app = parse_app(
        {
            "id": "a",
            "cmd": "x",
            "ports": [8080, 0],
            "uris": ["http://h/f.tgz"],
            "requirePorts": True,
        }
    )
    assert [p.port for p in app.port_definitions] == [8080, 0]
    assert [f.uri for f in app.fetch] == ["http://h/f.tgz"]
    app = parse_app(
        {
            "id": "a",
            "container": {
                "type": "DOCKER",
                "docker": {
                    "image": "nginx",
                    "network": "BRIDGE",
                    "portMappings": [{"containerPort": 80, "hostPort": 0}],
                },
            },
        }
    )
    assert app.networks[0].mode == "container/bridge"
    assert app.container is not None and app.container.port_mappings is not None
    assert app.container.port_mappings[0].container_port == 80
    assert app.port_definitions == []  # no default host port under bridge networking
    host = parse_app({"id": "a", "container": {"docker": {"image": "nginx", "network": "HOST"}}})
    assert host.networks[0].mode == "host"
    errs = errors_of({"id": "a", "cmd": "x", "ports": ["80"]})
    assert "/ports" in errs
    errs = errors_of({"id": "a", "container": {"docker": {"image": "i", "network": "WEIRD"}}})
    assert "/container/docker/network" in errs


def test_network_and_container_rules() -> None:
    errs = errors_of(
        {
            "id": "a",
            "container": {
                "type": "DOCKER",
                "docker": {"image": "i"},
                "portMappings": [{"containerPort": 80, "protocol": "icmp"}],
            },
        }
    )
    assert "bridge networking" in errs["/container/portMappings"][0]
    assert "/container/portMappings/0/protocol" in errs
    errs = errors_of({"id": "a", "cmd": "x", "networks": [{"mode": "container", "name": "n"}]})
    assert "/networks/0/mode" in errs
    errs = errors_of({"id": "a", "cmd": "x", "networks": [{"mode": "container/bridge"}]})
    assert "needs a DOCKER container" in errs["/networks"][0]
    errs = errors_of(
        {
            "id": "a",
            "container": {
                "docker": {"image": "i", "parameters": [{"key": "ulimit", "value": "nofile=1"}]}
            },
        }
    )
    assert "got ulimit" in errs["/container/docker/parameters"][0]
    errs = errors_of({"id": "a", "container": {"type": "RKT", "docker": {"image": "i"}}})
    assert "/container/type" in errs
    errs = errors_of(
        {
            "id": "a",
            "container": {
                "docker": {"image": "i"},
                "volumes": [{"containerPath": "/data", "mode": "RX"}],
            },
        }
    )
    assert {"/container/volumes/0/hostPath", "/container/volumes/0/mode"} <= set(errs)


def test_ids_resolve_against_the_group() -> None:
    assert parse_app({"id": "web", "cmd": "x"}, group="/team").id == "/team/web"
    assert parse_app({"id": "../web", "cmd": "x"}, group="/team/a").id == "/team/web"
    assert parse_app({"id": "/abs", "cmd": "x"}, group="/team").id == "/abs"
    assert normalize_id("a.b-c/d") == "/a.b-c/d"
    assert normalize_group_id("/") == "/"
    assert parent_of("/a/b") == "/a" and parent_of("/a") == "/"
    for bad in ("", "/", "-a", "a-", "A", "a_b", "a..b", "../.."):
        with pytest.raises(Invalid):
            normalize_id(bad)
    assert "/id" in errors_of({"cmd": "x"})


def test_partial_update_keeps_the_rest() -> None:
    base = parse_app(FULL)
    base = base.__class__(
        **{
            **{f: getattr(base, f) for f in base.__struct_fields__},
            "version": "2026-01-01T00:00:00.000Z",
        }
    )
    scaled = parse_app({"instances": 7}, base=base, partial=True)
    assert scaled.instances == 7 and scaled.cmd == base.cmd and scaled.id == base.id
    assert scaled.version == base.version and scaled.labels == base.labels
    full = parse_app({"cmd": "y"}, base=base)  # not partial: the rest are defaults
    assert full.id == base.id and full.instances == 1 and full.labels == {}
    errs = errors_of({"instances": -3}, base=base, partial=True)
    assert list(errs) == ["/instances"]


def test_malformed_json_is_400() -> None:
    with pytest.raises(Invalid) as info:
        parse_json_body(b'{"id": ')
    assert info.value.message == "Invalid JSON" and status_of(info.value) == 400
    assert info.value.body()["message"] == "Invalid JSON" and info.value.body()["details"]
    with pytest.raises(Invalid):
        parse_json_body(b"")
    assert parse_json_body(b'{"id": "a"}') == {"id": "a"}
    with pytest.raises(Invalid) as info2:
        parse_app([1, 2])
    assert status_of(info2.value) == 422


def test_toml_file(tmp_path: Path) -> None:
    p = tmp_path / "web.toml"
    p.write_text(
        'id = "/web"\ncmd = "python3 -m http.server $PORT0"\ninstances = 2\ncpus = 0.25\n'
        'constraints = [["hostname", "UNIQUE"]]\n'
        '[env]\nGREETING = "hi"\n'
        "[upgradeStrategy]\nminimumHealthCapacity = 0.5\nmaximumOverCapacity = 0\n"
        '[[healthChecks]]\nprotocol = "HTTP"\npath = "/"\nportIndex = 0\n'
        '[[portDefinitions]]\nport = 0\nname = "http"\n'
    )
    app = parse_app(load_app_file(p))
    assert app.instances == 2 and app.env == {"GREETING": "hi"}
    assert app.upgrade_strategy.maximum_over_capacity == 0.0
    assert app.port_definitions[0].name == "http"
    bad = tmp_path / "bad.toml"
    bad.write_text("id = \n")
    with pytest.raises(Invalid) as info:
        load_app_file(bad)
    assert "bad.toml" in str(info.value)
    j = tmp_path / "a.json"
    j.write_text(json.dumps({"id": "a", "cmd": "x"}))
    assert parse_app(load_app_file(j)).id == "/a"
    j.write_text("{nope")
    with pytest.raises(Invalid) as info:
        load_app_file(j)
    assert status_of(info.value) == 400


def test_now_version() -> None:
    assert now_version(1767225600.0) == "2026-01-01T00:00:00.000Z"
    assert now_version(1767225600.1234) == "2026-01-01T00:00:00.123Z"


def _client_round_trip(app: AppDefinition) -> MarathonApp:
    rendered = render_app(app)
    client = MarathonApp.from_json(json.loads(json.dumps(rendered)))
    again = parse_app(json.loads(client.to_json()))  # the client's JSON parses back
    assert again.id == app.id
    full = parse_app(json.loads(client.to_json(minimal=False)))  # nulls and all
    assert render_app(full) == {
        k: v for k, v in rendered.items() if k not in ("version", "versionInfo")
    }
    return client


def test_render_goes_through_the_marathon_client() -> None:
    versioned = parse_app(FULL)
    versioned = msgspec.structs.replace(
        versioned,
        version="2026-01-01T00:00:00.000Z",
        version_info=VersionInfo(
            last_scaling_at="2026-01-01T00:00:00.000Z",
            last_config_change_at="2026-01-01T00:00:00.000Z",
        ),
    )
    client = _client_round_trip(versioned)
    assert client.id == "/team/web" and client.instances == 3
    assert client.version_info.last_scaling_at.year == 2026
    assert client.health_checks[0].protocol == "MESOS_HTTP"
    assert client.unreachable_strategy.expunge_after_seconds == 20
    docker = parse_app(
        {
            "id": "/d",
            "container": {
                "type": "DOCKER",
                "docker": {
                    "image": "nginx",
                    "network": "BRIDGE",
                    "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "http"}],
                },
                "volumes": [{"containerPath": "/data", "hostPath": "data", "mode": "RO"}],
            },
            "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}],
        }
    )
    client = _client_round_trip(docker)
    assert client.container.type == "DOCKER"
    assert client.container.port_mappings[0].container_port == 80
    assert client.unreachable_strategy == "disabled"
    mesos = parse_app(
        {"id": "/m", "cmd": "x", "container": {"type": "MESOS", "docker": {"image": "busybox"}}}
    )
    assert _client_round_trip(mesos).container.type == "MESOS"
    out = render_app(docker)
    assert "tty" not in out and "ports" not in out
    assert "linuxInfo" not in out["container"]  # type: ignore[operator]


def test_openapi_document_has_every_path() -> None:
    doc = openapi_document()
    text = json.dumps(doc)
    assert json.loads(text)["openapi"] == "3.1.0"
    assert set(doc["paths"]) == set(PATHS)
    for path in (
        "/v2/apps",
        "/v2/apps/{appId}",
        "/v2/apps/{appId}/restart",
        "/v2/tasks",
        "/v2/tasks/delete",
        "/v2/deployments",
        "/v2/deployments/{deploymentId}",
        "/v2/groups",
        "/v2/groups/{groupId}",
        "/v2/queue",
        "/v2/queue/{appId}/delay",
        "/v2/info",
        "/v2/leader",
        "/v2/events",
        "/ping",
    ):
        assert path in doc["paths"], path
    schema = doc["components"]["schemas"]["AppDefinition"]
    assert "portDefinitions" in schema["properties"] and "healthChecks" in schema["properties"]
    refs = set(_refs(doc))
    assert all(r.split("/")[-1] in doc["components"]["schemas"] for r in refs)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return out + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_lists_what_the_api_serves() -> None:
    from corral.frameworks.services.api import PATHS as SERVED

    doc = openapi_document()
    for line in SERVED:
        *methods, path = line.split()
        if path == "/" or path.startswith("/ui"):
            continue  # the page, not the API
        assert path in doc["paths"], path
        for method in methods:
            assert method.lower() in doc["paths"][path], line
