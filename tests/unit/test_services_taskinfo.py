"""An app + a placement -> TaskSpec and TaskInfo: command, containers, ports, env, checks."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.codec import Invalid, parse_app
from corral.frameworks.services.serviceports import assign_service_ports, service_ports
from corral.frameworks.services.taskinfo import (
    app_id_of_task,
    new_task_id,
    task_info,
    task_name,
    task_spec,
)
from corral.resources import Resources, scalars
from corral.scheduler_client.placement import AgentOffer, Assignment, place
from corral.wire.tasks import TaskInfo


def app_of(**doc: Any) -> AppDefinition:
    app = parse_app({"id": "/team/web", **doc})
    return msgspec.structs.replace(app, version="2026-01-01T00:00:00.000Z")


def launch(app: AppDefinition, ports: tuple[int, ...] = ()) -> TaskInfo:
    spec = task_spec(app, group=app.id)
    res = scalars(cpus=app.cpus, mem=app.mem) + Resources(
        ranges={("ports", "*"): tuple((p, p) for p in ports)}
    )
    return task_info(
        app,
        "team_web.1234",
        Assignment(spec, "agent-1", "host-1", ("o1",), res, ports),
        framework_name="services",
    )


def env_of(info: TaskInfo) -> dict[str, str]:
    assert info.command is not None and info.command.environment is not None
    return {v.name: v.value or "" for v in info.command.environment.variables}


def test_task_ids() -> None:
    tid = new_task_id("/tools/docker.registry")
    assert tid.startswith("tools_docker.registry.")
    assert app_id_of_task(tid) == "/tools/docker.registry"
    assert new_task_id("/a") != new_task_id("/a")
    with pytest.raises(ValueError):
        app_id_of_task("nodot")
    assert task_name("/team/web") == "web.team"


def test_task_spec() -> None:
    app = app_of(
        cmd="x",
        cpus=0.5,
        mem=64,
        disk=5,
        portDefinitions=[{"port": 0}, {"port": 0}],
        constraints=[["hostname", "UNIQUE"], ["rack", "CLUSTER", "a"]],
    )
    spec = task_spec(app, group="/team/web@v1")
    assert spec.group == "/team/web@v1" and spec.ports == 2 and spec.named_ports == ()
    assert spec.resources.scalar("cpus") == 0.5 and spec.resources.scalar("disk") == 5
    assert [str(c) for c in spec.constraints] == ["hostname:UNIQUE", "rack:CLUSTER:a"]
    assert spec.role == "*" and not spec.reserved_only
    fixed = task_spec(
        app_of(cmd="x", requirePorts=True, portDefinitions=[{"port": 8080}, {"port": 0}])
    )
    assert fixed.named_ports == (8080,) and fixed.ports == 1
    roles = task_spec(app_of(cmd="x", acceptedResourceRoles=["prod"]))
    assert roles.role == "prod" and roles.reserved_only
    both = task_spec(app_of(cmd="x", acceptedResourceRoles=["prod", "*"]))
    assert both.role == "prod" and not both.reserved_only
    assert task_spec(app_of(cmd="x", role="ops")).role == "ops"


def test_spec_places_and_ports_line_up() -> None:
    app = app_of(
        cmd="x",
        requirePorts=True,
        portDefinitions=[{"port": 0, "name": "admin"}, {"port": 31005, "name": "http"}],
    )
    agent = AgentOffer(
        "agent-1",
        "host-1",
        {},
        scalars(cpus=4, mem=1024) + Resources(ranges={("ports", "*"): ((31000, 31010),)}),
        ("o1",),
    )
    placed = place([task_spec(app)], [agent])
    (a,) = placed.assignments
    info = task_info(app, "team_web.1", a, framework_name="services")
    env = env_of(info)
    assert env["PORT1"] == "31005" and env["PORT_HTTP"] == "31005" and env["PORT_31005"] == "31005"
    assert env["PORT0"] == env["PORT_ADMIN"] != "31005"
    assert env["PORTS"] == f"{env['PORT0']},31005"


def test_command_env_labels_fetch_kill_policy() -> None:
    app = app_of(
        cmd="python3 -m http.server $PORT0",
        env={"A": "1", "HOST": "mine"},
        labels={"tier": "web", "team-name": "x"},
        portDefinitions=[{"port": 0, "name": "http"}],
        fetch=[{"uri": "http://h/a.tgz", "executable": True, "destPath": "bin/a"}],
        taskKillGracePeriodSeconds=2.5,
        user="nobody",
        cpus=0.5,
        mem=64,
    )
    info = launch(app, (31000,))
    assert info.name == "web.team" and info.agent_id.value == "agent-1"
    assert info.command is not None and info.command.shell and info.command.user == "nobody"
    assert info.command.value == "python3 -m http.server $PORT0"
    uri = info.command.uris[0]
    assert (uri.value, uri.executable, uri.output_file) == ("http://h/a.tgz", True, "bin/a")
    env = env_of(info)
    assert env["PORT0"] == env["PORT"] == env["PORTS"] == env["PORT_HTTP"] == "31000"
    assert env["HOST"] == "mine"  # the app's env wins
    assert env["A"] == "1" and env["MESOS_TASK_ID"] == "team_web.1234"
    assert env["MARATHON_APP_ID"] == "/team/web"
    assert env["MARATHON_APP_VERSION"] == "2026-01-01T00:00:00.000Z"
    assert env["MARATHON_APP_RESOURCE_CPUS"] == "0.5" and env["MARATHON_APP_RESOURCE_MEM"] == "64.0"
    assert env["MARATHON_APP_RESOURCE_DISK"] == "0.0"
    assert env["MARATHON_APP_DOCKER_IMAGE"] == ""
    assert env["MARATHON_APP_LABELS"] == "TEAM_NAME TIER"
    assert env["MARATHON_APP_LABEL_TIER"] == "web" and env["MARATHON_APP_LABEL_TEAM_NAME"] == "x"
    assert info.labels is not None
    assert {lb.key: lb.value for lb in info.labels.labels} == {"tier": "web", "team-name": "x"}
    assert info.kill_policy is not None and info.kill_policy.grace_period is not None
    assert info.kill_policy.grace_period.nanoseconds == 2_500_000_000
    assert info.container is None and info.health_check is None
    assert {r.name for r in info.resources} == {"cpus", "mem", "ports"}
    # the toolkit's wire codec accepts it
    assert msgspec.json.decode(msgspec.json.encode(info), type=TaskInfo) == info


def test_args_are_argv() -> None:
    info = launch(app_of(args=["sleep", "100"], portDefinitions=[]))
    assert info.command is not None
    assert (info.command.shell, info.command.value, info.command.arguments) == (
        False,
        "sleep",
        ["sleep", "100"],
    )
    assert "PORT0" not in env_of(info) and "PORTS" not in env_of(info)


def test_docker_bridge_container() -> None:
    app = app_of(
        args=["--port", "80"],
        container={
            "type": "DOCKER",
            "docker": {
                "image": "nginx:1",
                "network": "BRIDGE",
                "forcePullImage": True,
                "privileged": False,
            },
            "portMappings": [
                {"containerPort": 80, "hostPort": 0, "name": "http"},
                {"containerPort": 53, "hostPort": 0, "protocol": "udp,tcp"},
                {"containerPort": 9000, "hostPort": None},
            ],
            "volumes": [{"containerPath": "/data", "hostPath": "data", "mode": "RO"}],
        },
        healthChecks=[{"protocol": "MESOS_HTTP", "portIndex": 0, "path": "/h"}],
    )
    spec = task_spec(app)
    assert spec.ports == 2 and spec.named_ports == ()
    info = launch(app, (31000, 31001))
    c = info.container
    assert c is not None and c.type == "DOCKER" and c.docker is not None
    assert c.docker.image == "nginx:1" and c.docker.network == "BRIDGE"
    assert c.docker.force_pull_image and c.docker.parameters == []
    assert [(m.host_port, m.container_port, m.protocol) for m in c.docker.port_mappings] == [
        (31000, 80, "tcp"),
        (31001, 53, "udp"),
        (31001, 53, "tcp"),
    ]
    assert [(v.container_path, v.host_path, v.mode) for v in c.volumes] == [("/data", "data", "RO")]
    assert info.command is not None and info.command.value is None and not info.command.shell
    assert info.command.arguments == ["--port", "80"]
    env = env_of(info)
    assert env["PORT0"] == "31000" and env["PORT_80"] == "31000" and env["PORT_HTTP"] == "31000"
    assert env["PORT2"] == "9000"  # no host port: the container port
    assert env["MARATHON_APP_DOCKER_IMAGE"] == "nginx:1"
    hc = info.health_check
    assert hc is not None and hc.http is not None
    assert hc.http.port == 80  # bridge: the container port (the agent probes its host port)


def test_docker_host_and_mesos_containers() -> None:
    host = launch(
        app_of(container={"type": "DOCKER", "docker": {"image": "busybox"}}, cmd="echo hi"),
        (31000,),
    )
    assert host.container is not None and host.container.docker is not None
    assert host.container.docker.network == "HOST" and host.container.docker.port_mappings == []
    assert host.command is not None and host.command.shell and host.command.value == "echo hi"
    mesos = launch(
        app_of(
            cmd="ls",
            container={
                "type": "MESOS",
                "docker": {"image": "busybox"},
                "volumes": [{"containerPath": "d", "hostPath": "/tmp"}],
            },
        ),
        (31000,),
    )
    c = mesos.container
    assert c is not None and c.type == "MESOS" and c.docker is None
    assert c.mesos is not None and c.mesos.image is not None
    assert c.mesos.image.type == "DOCKER" and c.mesos.image.docker is not None
    assert c.mesos.image.docker.name == "busybox"
    assert c.volumes[0].host_path == "/tmp"
    plain = launch(app_of(cmd="ls", container={"type": "MESOS"}), (31000,))
    assert plain.container is None


@pytest.mark.parametrize(
    ("check", "kind", "expect"),
    [
        (
            {"protocol": "HTTP", "path": "/ok"},
            "HTTP",
            {"port": 31000, "path": "/ok", "scheme": "http"},
        ),
        ({"protocol": "HTTPS"}, "HTTP", {"port": 31000, "path": "/", "scheme": "https"}),
        (
            {"protocol": "MESOS_HTTPS", "portIndex": 1},
            "HTTP",
            {"port": 31001, "path": "/", "scheme": "https"},
        ),
        ({"protocol": "TCP", "portIndex": 1}, "TCP", {"port": 31001}),
        ({"protocol": "MESOS_TCP", "port": 8125}, "TCP", {"port": 8125}),
    ],
)
def test_health_checks_translate(check: dict[str, Any], kind: str, expect: dict[str, Any]) -> None:
    app = app_of(
        cmd="x",
        portDefinitions=[{"port": 0}, {"port": 0}],
        healthChecks=[
            {
                **check,
                "gracePeriodSeconds": 30,
                "intervalSeconds": 5,
                "timeoutSeconds": 2,
                "maxConsecutiveFailures": 4,
            }
        ],
    )
    hc = launch(app, (31000, 31001)).health_check
    assert hc is not None and hc.type == kind
    probe = hc.http if kind == "HTTP" else hc.tcp
    assert probe is not None
    got = msgspec.to_builtins(probe)
    assert {k: got[k] for k in expect} == expect
    assert (
        hc.grace_period_seconds,
        hc.interval_seconds,
        hc.timeout_seconds,
        hc.consecutive_failures,
    ) == (30, 5, 2, 4)
    mesos_level = check["protocol"].startswith("MESOS_")
    assert hc.delay_seconds == (15 if mesos_level else 0)


def test_command_check_and_zero_failures() -> None:
    hc = launch(
        app_of(
            cmd="x",
            healthChecks=[
                {
                    "protocol": "COMMAND",
                    "command": {"value": "test -f ok"},
                    "maxConsecutiveFailures": 0,
                }
            ],
        ),
        (31000,),
    ).health_check
    assert hc is not None and hc.type == "COMMAND" and hc.command is not None
    assert hc.command.value == "test -f ok" and hc.command.shell
    assert hc.consecutive_failures == 1  # Mesos-level: 0 kills at the first failure
    never = launch(
        app_of(cmd="x", healthChecks=[{"protocol": "HTTP", "maxConsecutiveFailures": 0}]), (31000,)
    )
    assert never.health_check is not None
    assert never.health_check.consecutive_failures == 2**31 - 1  # Marathon-level: never kill


def test_short_assignment_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs 2"):
        launch(app_of(cmd="x", portDefinitions=[{"port": 0}, {"port": 0}]), (31000,))


def test_service_ports_are_assigned_and_kept() -> None:
    app = app_of(cmd="x", portDefinitions=[{"port": 0}, {"port": 10001}, {"port": 0}])
    got = assign_service_ports(app, taken={10000, 10002})
    assert service_ports(got) == [10003, 10001, 10004]
    assert task_spec(got).ports == 3 and task_spec(got).named_ports == ()
    env = env_of(launch(got, (31000, 31001, 31002)))
    assert env["PORT_10003"] == "31000" and env["PORT1"] == "31001"
    fixed = app_of(cmd="x", requirePorts=True, portDefinitions=[{"port": 0}])
    assert service_ports(assign_service_ports(fixed, taken=())) == [0]
    bridge = app_of(
        container={
            "type": "DOCKER",
            "docker": {"image": "i", "network": "BRIDGE"},
            "portMappings": [{"containerPort": 80, "servicePort": 0}],
        }
    )
    assert service_ports(assign_service_ports(bridge, taken=[10000])) == [10001]
    with pytest.raises(Invalid) as info:
        assign_service_ports(app, taken=range(10000, 20000))
    assert info.value.details[0].path == "/portDefinitions/0"


def test_the_agent_accepts_what_we_build(tmp_path: Any) -> None:
    """The agent's own checks (health check validation, docker create arguments) take the
    TaskInfos this module builds."""
    from corral.agent.docker_spec import container_info, create_kwargs
    from corral.health.policy import validate

    for check in (
        {"protocol": "HTTP"},
        {"protocol": "MESOS_HTTPS", "maxConsecutiveFailures": 0},
        {"protocol": "TCP"},
        {"protocol": "COMMAND", "command": {"value": "true"}},
    ):
        info = launch(app_of(cmd="x", healthChecks=[check]), (31000,))
        assert validate(info) is None, check
    app = app_of(
        args=["-g", "daemon off;"],
        container={
            "type": "DOCKER",
            "docker": {"image": "nginx", "network": "BRIDGE"},
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "udp,tcp"}],
            "volumes": [{"containerPath": "/data", "hostPath": "data", "mode": "RO"}],
        },
    )
    info = launch(app, (31000,))
    ci, docker = container_info(info)
    kwargs = create_kwargs(
        info=info,
        ci=ci,
        docker=docker,
        env=env_of(info),
        sandbox=tmp_path,
        name="corral-x",
        labels={},
    )
    assert kwargs["image"] == "nginx" and kwargs["command"] == ["-g", "daemon off;"]
    assert kwargs["ports"] == {"80/udp": 31000, "80/tcp": 31000}
