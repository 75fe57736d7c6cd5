"""How a DOCKER TaskInfo becomes a container: command, limits, network, ports, volumes (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.agent.docker_spec import (
    LaunchError,
    command_of,
    container_info,
    create_kwargs,
    docker_statistics,
    is_docker,
    normalize_endpoint,
)
from corral.resources import parse
from corral.wire.base import ID
from corral.wire.codec import WireError, convert
from corral.wire.tasks import CommandInfo, ContainerInfo, TaskInfo

SANDBOX = Path("/var/lib/corral/agent/sandboxes/c1")


def info(container: dict[str, Any], command: CommandInfo | None = None, res: str = "") -> TaskInfo:
    return TaskInfo(
        name="t",
        task_id=ID("t"),
        agent_id=ID("a"),
        resources=parse(res or "cpus:0.5;mem:64;ports:[31000-31001]").to_wire(),
        command=command or CommandInfo(value="echo hi"),
        container=convert(container, ContainerInfo),  # as the wire decodes it
    )


def kwargs_for(container: dict[str, Any], **kw: Any) -> dict[str, Any]:
    t = info(container, **kw)
    ci, docker = container_info(t)
    return create_kwargs(
        info=t, ci=ci, docker=docker, env={"A": "1"}, sandbox=SANDBOX, name="corral-c1", labels={}
    )


def test_a_hard_cpu_quota_with_cgroups_enable_cfs() -> None:
    t = info(docker())
    ci, d = container_info(t)
    kw = create_kwargs(
        info=t, ci=ci, docker=d, env={}, sandbox=SANDBOX, name="c", labels={}, hard_cpu_limit=True
    )
    assert kw["nano_cpus"] == 500_000_000 and kw["cpu_shares"] == 512


def docker(**fields: Any) -> dict[str, Any]:
    extra = fields.pop("container", {})
    return {"type": "DOCKER", "docker": {"image": "busybox", **fields}, **extra}


def test_limits_sandbox_and_host_network_by_default() -> None:
    kw = kwargs_for(docker())
    assert kw["image"] == "busybox" and kw["name"] == "corral-c1"
    assert kw["cpu_shares"] == 512 and "nano_cpus" not in kw  # a quota only with CFS on
    assert kw["mem_limit"] == kw["memswap_limit"] == 64 << 20
    assert kw["network_mode"] == "host"
    assert kw["volumes"] == {str(SANDBOX): {"bind": "/mnt/mesos/sandbox", "mode": "rw"}}
    assert kw["working_dir"] == "/mnt/mesos/sandbox"
    assert kw["entrypoint"] == ["/bin/sh"] and kw["command"] == ["-c", "echo hi"]
    assert "ports" not in kw and "privileged" not in kw


def test_commands_as_mesos_runs_them() -> None:
    shell = info(docker(), CommandInfo(value="echo $HOME"))
    assert command_of(shell) == (["/bin/sh"], ["-c", "echo $HOME"])
    plain = info(docker(), CommandInfo(shell=False, arguments=["--port", "80"]))
    assert command_of(plain) == (None, ["--port", "80"])  # the image's entrypoint is kept
    both = info(docker(), CommandInfo(shell=False, value="serve", arguments=["-v"]))
    assert command_of(both) == (None, ["serve", "-v"])
    assert command_of(info(docker(), CommandInfo(shell=True))) == (None, None)  # image default


def test_bridge_port_mappings_must_be_in_the_tasks_ports() -> None:
    kw = kwargs_for(
        docker(
            network="BRIDGE",
            port_mappings=[
                {"host_port": 31000, "container_port": 80},
                {"host_port": 31001, "container_port": 53, "protocol": "udp"},
            ],
        )
    )
    assert kw["network_mode"] == "bridge"
    assert kw["ports"] == {"80/tcp": 31000, "53/udp": 31001}
    with pytest.raises(LaunchError, match=r"port_mappings\[0\].host_port: 32000 is not among"):
        kwargs_for(
            docker(network="BRIDGE", port_mappings=[{"host_port": 32000, "container_port": 80}])
        )
    with pytest.raises(LaunchError, match="only BRIDGE networking maps ports"):
        kwargs_for(docker(port_mappings=[{"host_port": 31000, "container_port": 80}]))


def test_volumes_relative_paths_are_in_the_sandbox() -> None:
    vols = [
        {"host_path": "/data", "container_path": "/data", "mode": "RO"},
        {"host_path": "cache", "container_path": "cache"},
    ]
    kw = kwargs_for(docker(container={"volumes": vols}))
    assert kw["volumes"]["/data"] == {"bind": "/data", "mode": "ro"}
    assert kw["volumes"][str(SANDBOX / "cache")] == {
        "bind": "/mnt/mesos/sandbox/cache",
        "mode": "rw",
    }
    with pytest.raises(LaunchError, match=r"volumes\[0\].host_path: only host path volumes"):
        kwargs_for(docker(container={"volumes": [{"container_path": "/x"}]}))
    with pytest.raises(LaunchError, match=r"volumes\[0\].mode: 'RX' is not RW or RO"):
        kwargs_for(
            docker(
                container={"volumes": [{"host_path": "/x", "container_path": "/x", "mode": "RX"}]}
            )
        )


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"type": "DOCKER"}, "TaskInfo.container.docker is required"),
        ({"type": "DOCKER", "docker": {"image": " "}}, "docker.image must not be empty"),
        ({"type": "DOCKER", "docker": {}}, "Missing required field 'docker.image'"),
        (docker(network="USER"), "network: 'USER' is not supported"),
        (docker(parameters=[{"key": "ulimit", "value": "x"}]), "parameters: arbitrary docker"),
        (
            {"type": "DOCKER", "docker": {"image": "b"}, "volumes": [{"host_path": "/x"}]},
            "required field 'volumes",
        ),
    ],
)
def test_bad_container_infos_name_the_field(container: dict[str, Any], message: str) -> None:
    with pytest.raises(LaunchError, match=message.replace(".", r"\.")):
        kwargs_for(container)


def test_a_container_info_of_the_wrong_shape_is_refused_by_the_wire_naming_the_field() -> None:
    # TaskInfo.container is typed: the master's decoding of the ACCEPT names the field (400).
    with pytest.raises(WireError, match=r"Invalid field 'docker\.privileged'"):
        convert({"type": "DOCKER", "docker": {"image": "b", "privileged": "maybe"}}, ContainerInfo)


def test_which_tasks_are_docker_and_endpoints() -> None:
    assert is_docker(info(docker()))
    assert not is_docker(info({"type": "MESOS"}))
    assert normalize_endpoint("/run/d.sock") == "unix:///run/d.sock"
    assert normalize_endpoint("tcp://10.0.0.1:2375") == "tcp://10.0.0.1:2375"
    with pytest.raises(ValueError, match="expected a socket path"):
        normalize_endpoint("docker.example:2375")


def test_docker_stats_in_mesos_field_names() -> None:
    raw = {
        "memory_stats": {"usage": 5 << 20, "max_usage": 6 << 20, "limit": 32 << 20},
        "cpu_stats": {
            "cpu_usage": {"total_usage": 123456},
            "throttling_data": {"periods": 10, "throttled_periods": 3, "throttled_time": 999},
        },
        "pids_stats": {"current": 2},
    }
    assert docker_statistics(raw) == {
        "mem_rss_bytes": 5 << 20,
        "mem_max_bytes": 6 << 20,
        "mem_limit_bytes": 32 << 20,
        "cpus_time_ns": 123456,
        "cpus_nr_periods": 10,
        "cpus_nr_throttled": 3,
        "cpus_throttled_time_ns": 999,
        "processes": 2,
    }
    assert docker_statistics({}) == {}
