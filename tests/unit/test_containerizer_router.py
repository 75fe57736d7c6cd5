"""The router is the one place that chooses a containerizer: by ContainerInfo for a launch,
by owner for everything after; the process containerizer's resource limits (pure)."""

from __future__ import annotations

from collections.abc import Collection, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from corral.agent.containerizer.base import (
    AgentFacts,
    ContainerEvent,
    ContainerizerConfig,
    Exited,
    LaunchFailed,
    LaunchSpec,
    Recoverable,
    RecoverySummary,
    Started,
    Statistics,
)
from corral.agent.containerizer.launched import LaunchRefused, merged, rlimits_of
from corral.agent.containerizer.linux import LinuxContainerizer, cgroup_limits
from corral.agent.containerizer.process import ProcessContainerizer
from corral.agent.containerizer.router import Router, kind_for
from corral.agent.launcher_client import LauncherClient
from corral.agent.launcher_protocol import CgroupLimits, RLimit
from corral.resources import Resources, parse
from corral.wire.base import ID
from corral.wire.codec import convert
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import CommandInfo, ContainerInfo, ExecutorInfo, TaskInfo

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never waits (the fakes below don't): no event loop needed."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine waited")


class Fake:
    """A containerizer that records what it was asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[str, str]] = []
        self.recovered: dict[str, Recoverable] = {}

    async def launch(self, spec: LaunchSpec) -> None:
        self.calls.append(("launch", spec.container_id))

    def kill(self, container_id: str, grace: float) -> None:
        self.calls.append(("kill", container_id))

    def destroy(self, container_id: str) -> None:
        self.calls.append(("destroy", container_id))

    def update(self, container_id: str, resources: Resources) -> None:
        self.calls.append(("update", container_id))

    async def recover(self, containers: Mapping[str, Recoverable]) -> RecoverySummary:
        self.recovered.update(containers)
        return RecoverySummary(running=len(containers))

    async def usage(self, container_ids: Collection[str]) -> dict[str, Statistics]:
        return {cid: {"by": len(self.name)} for cid in container_ids}

    async def cleanup(self) -> int:
        return 0

    async def close(self, kill: bool) -> None:
        return None


def container(**fields: Any) -> ContainerInfo:
    return convert(fields, ContainerInfo)


DOCKER = container(type="DOCKER", docker={"image": "busybox"})
MESOS = container(type="MESOS")


def spec(cid: str, ci: ContainerInfo | None = None, res: str = "cpus:1;mem:64") -> LaunchSpec:
    info = TaskInfo(
        name=cid,
        task_id=ID(cid),
        agent_id=ID("a"),
        command=CommandInfo(value="true"),
        container=ci,
    )
    return LaunchSpec(
        container_id=cid,
        framework=FrameworkInfo(user="u", name="f", id=ID("f")),
        sandbox=Path("/tmp/sandboxes") / cid,
        command=CommandInfo(value="true"),
        resources=parse(res),
        executor_id=cid,
        agent=AgentFacts(agent_id="a", address="127.0.0.1:5051", hostname="h", ip="127.0.0.1"),
        shutdown_grace=5.0,
        task=info,
    )


def router(docker: bool = True) -> tuple[Router, Fake, Fake, list[ContainerEvent]]:
    events: list[ContainerEvent] = []
    config = ContainerizerConfig(work_dir=Path("/tmp/w"), containerizers=("docker", "linux"))
    r = Router(config, LauncherClient(Path("/tmp/w/launcher"), lambda _: None), events.append)
    launched, dockerd = Fake("linux"), Fake("docker")
    r.launched = launched  # type: ignore[assignment]
    r.docker = dockerd if docker else None
    if not docker:
        r.docker_why = "cannot reach dockerd at unix:///nowhere"
    return r, launched, dockerd, events


def test_the_task_container_type_chooses() -> None:
    assert kind_for(None) == "launcher"
    assert kind_for(MESOS) == "launcher"
    assert kind_for(container()) == "launcher"  # no type: MESOS, as corral reads it
    assert kind_for(DOCKER) == "docker"


def test_launches_go_by_container_info_and_the_rest_by_owner() -> None:
    r, launched, dockerd, _ = router()
    run(r.launch(spec("d", DOCKER)))
    run(r.launch(spec("m", MESOS)))
    run(r.launch(spec("plain")))
    assert dockerd.calls == [("launch", "d")]
    assert launched.calls == [("launch", "m"), ("launch", "plain")]
    for cid in ("d", "m"):
        r.kill(cid, 3.0)
        r.destroy(cid)
        r.update(cid, parse("cpus:2"))
    assert dockerd.calls[1:] == [("kill", "d"), ("destroy", "d"), ("update", "d")]
    assert launched.calls[2:] == [("kill", "m"), ("destroy", "m"), ("update", "m")]
    assert (r.name_of("d"), r.name_of("m"), r.name_of("not-yet-launched")) == (
        "docker",
        "linux",
        "linux",
    )
    assert r.names() == ["docker", "linux"]


def test_an_ended_container_belongs_to_nobody() -> None:
    r, launched, dockerd, events = router()
    run(r.launch(spec("d", DOCKER)))
    r.deliver(Started("d", 42))
    assert r.name_of("d") == "docker"
    r.deliver(Exited("d", 0, True, "Container exited with status 0"))
    assert events == [Started("d", 42), Exited("d", 0, True, "Container exited with status 0")]
    assert r.name_of("d") == "linux"
    r.update("d", parse("cpus:1"))  # nobody's: nothing to update
    assert dockerd.calls == [("launch", "d")] and launched.calls == []


def test_a_docker_task_without_docker_fails_naming_why() -> None:
    r, launched, _, events = router(docker=False)
    run(r.launch(spec("d", DOCKER)))
    assert events == [
        LaunchFailed(
            "d", "This agent cannot run DOCKER containers: cannot reach dockerd at unix:///nowhere"
        )
    ]
    assert launched.calls == []
    assert r.names() == ["linux"]


def test_usage_asks_each_owner_about_its_own() -> None:
    r, _, _, _ = router()
    run(r.launch(spec("d", DOCKER)))
    run(r.launch(spec("m")))
    assert run(r.usage(["d", "m", "fetching"])) == {
        "d": {"by": len("docker")},
        "m": {"by": len("linux")},
        "fetching": {"by": len("linux")},
    }


def test_recovery_hands_each_container_to_its_containerizer() -> None:
    r, launched, dockerd, _ = router()
    known = {
        "d": Recoverable(sandbox=Path("/s/d"), container=DOCKER),
        "m": Recoverable(sandbox=Path("/s/m"), container=None),
    }
    summary = run(r.recover(known))
    assert summary.running == 2
    assert set(dockerd.recovered) == {"d"} and set(launched.recovered) == {"m"}
    r.kill("d", 1.0)
    assert dockerd.calls == [("kill", "d")]
    without, _, _, _ = router(docker=False)
    with pytest.raises(RuntimeError, match="1 docker task"):
        run(without.recover(known))


# ------------------------------------------------------------------ rlimits and options
def rl(*limits: dict[str, Any]) -> ContainerInfo:
    return container(type="MESOS", rlimit_info={"rlimits": list(limits)})


def test_rlimit_info_is_checked_as_mesos_does() -> None:
    assert rlimits_of(None) == []
    assert rlimits_of(rl({"type": "RLMT_NOFILE", "soft": 64, "hard": 128})) == [
        RLimit(name="NOFILE", soft=64, hard=128)
    ]
    assert rlimits_of(rl({"type": "RLMT_CORE"})) == [RLimit(name="CORE")]  # unlimited
    for limits, message in (
        ([{"type": "RLMT_BOGUS", "soft": 1, "hard": 1}], r"rlimits\[0\]\.type: 'RLMT_BOGUS'"),
        ([{"type": "RLMT_NOFILE", "soft": 1}], r"rlimits\[0\]: set both soft and hard"),
        ([{"type": "RLMT_NOFILE", "soft": 9, "hard": 8}], r"rlimits\[0\]\.soft: 9 is above"),
        (
            [{"type": "RLMT_CPU", "soft": 1, "hard": 1}, {"type": "RLMT_CPU"}],
            r"rlimits\[1\]\.type: RLMT_CPU is given twice",
        ),
    ):
        with pytest.raises(LaunchRefused, match=message):
            rlimits_of(rl(*limits))
    defaults = [RLimit(name="NPROC", soft=10, hard=10)]
    assert merged(defaults, [RLimit(name="NPROC", soft=5, hard=6)]) == [
        RLimit(name="NPROC", soft=5, hard=6)
    ]


def test_process_containers_get_nproc_and_what_they_ask_for() -> None:
    client = LauncherClient(Path("/tmp/w/launcher"), lambda _: None)
    process = ProcessContainerizer(client, lambda _: None, pids_max=300)
    opts = run(process.options(spec("p")))
    assert opts.cgroups is None and not opts.namespaces
    assert opts.rlimits == [RLimit(name="NPROC", soft=300, hard=300)]
    asked = rl({"type": "RLMT_NOFILE", "soft": 50, "hard": 60})
    assert run(process.options(spec("p", asked))).rlimits == [
        RLimit(name="NPROC", soft=300, hard=300),
        RLimit(name="NOFILE", soft=50, hard=60),
    ]
    image = container(type="MESOS", mesos={"image": {"type": "DOCKER", "docker": {"name": "b"}}})
    with pytest.raises(LaunchRefused, match="needs the linux containerizer"):
        run(process.options(spec("p", image)))


def test_linux_containers_get_cgroups_and_tasks_namespaces() -> None:
    client = LauncherClient(Path("/tmp/w/launcher"), lambda _: None)
    config = ContainerizerConfig(
        work_dir=Path("/tmp/w"), isolation=("network/private",), cgroups_pids_max=64
    )
    linux = LinuxContainerizer(client, lambda _: None, config)
    opts = run(linux.options(spec("t", res="cpus:0.5;mem:32;ports:[31000-31001]")))
    assert opts.cgroups == CgroupLimits(mem_bytes=32 << 20, cpu_shares=512, pids_max=64)
    assert opts.namespaces and opts.private_network and opts.map_ports == [31000, 31001]
    executor = spec("e")
    executor = LaunchSpec(
        **{
            **executor.__dict__,
            "task": None,
            "executor": ExecutorInfo(executor_id=ID("e")),
        }
    )
    opts = run(linux.options(executor))
    assert opts.cgroups is not None and not opts.namespaces and not opts.private_network
    assert cgroup_limits(parse("cpus:2"), True, 0) == CgroupLimits(
        cpu_shares=2048, cfs_quota_us=200_000
    )


def test_container_info_json_passes_through_unchanged() -> None:
    from corral.wire.codec import decode, encode

    raw = (
        b'{"type":"DOCKER","volumes":[{"container_path":"/d","host_path":"/d","mode":"RO"}],'
        b'"docker":{"image":"busybox","network":"HOST","privileged":false,'
        b'"force_pull_image":false},"network_infos":[{"name":"n","x-unknown":1}],'
        b'"rlimit_info":{"rlimits":[{"type":"RLMT_NOFILE","hard":2,"soft":1}]}}'
    )
    assert decode(encode(decode(raw, ContainerInfo)), dict) == decode(raw, dict)


def test_only_the_router_chooses_a_containerizer() -> None:
    """Outside agent/containerizer/, no agent module asks what kind a container is."""
    import corral.agent

    agent_dir = Path(corral.agent.__file__).parent
    pure = {"docker_spec.py", "images.py"}  # a DOCKER / MESOS ContainerInfo's own fields
    for path in agent_dir.glob("*.py"):
        if path.name in pure:
            continue
        text = path.read_text()
        for needle in ("is_docker(", '"DOCKER"', "kind_for(", "DockerContainerizer", ".linux"):
            assert needle not in text, f"{path.name} branches on the container kind ({needle})"
