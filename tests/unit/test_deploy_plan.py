"""What each host must have (render) and what it needs given what it has (plan), pure."""

from __future__ import annotations

import json

from corral.deploy import probe
from corral.deploy.health import judge
from corral.deploy.inventory import parse
from corral.deploy.plan import (
    InstallWheel,
    Observed,
    ServiceSeen,
    StartService,
    StopService,
    WriteFile,
    plan,
    restrict,
)
from corral.deploy.render import Desired, Layout, desired, sha256
from corral.deploy.supervisor import BACKOFF_MAX, backoff, next_failures

INV = """\
[[hosts]]
name = "m1"
address = "10.0.0.1"
roles = ["zookeeper", "master"]
root = "/srv/m1"
[[hosts]]
name = "m2"
address = "10.0.0.2"
roles = ["zookeeper", "master"]
[[hosts]]
name = "m3"
address = "10.0.0.3"
roles = ["zookeeper", "master"]
[[hosts]]
name = "a1"
address = "10.0.0.4"
roles = ["agent"]
resources = "cpus:4"
attributes = { rack = "r1" }
flags = ["--containerizers", "process"]
"""


def test_masters_get_the_ensemble_and_quorum() -> None:
    inv = parse(INV)
    want = desired(inv, inv.hosts[0], "w1")
    [zk, master] = want.services
    assert master.argv[:3] == ("/srv/m1/opt/corral/venv/bin/python", "-m", "corral")
    argv = list(master.argv)
    assert argv[argv.index("--zk") + 1] == ("zk://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181/corral")
    assert argv[argv.index("--quorum") + 1] == "2"
    assert argv[argv.index("--ip") + 1] == "10.0.0.1"
    assert argv[argv.index("--work-dir") + 1] == "/srv/m1/var/lib/corral/master"
    cfg = want.files["/srv/m1/etc/corral/zookeeper/zoo.cfg"]
    assert "server.3=10.0.0.3:2888:3888" in cfg and "clientPortAddress=10.0.0.1" in cfg
    assert "admin.enableServer=false" in cfg
    assert want.files["/srv/m1/var/lib/corral/zookeeper/myid"] == "1\n"
    assert desired(inv, inv.hosts[2], "w1").files["/var/lib/corral/zookeeper/myid"] == "3\n"
    assert zk.argv[-1] == "/srv/m1/etc/corral/zookeeper/zoo.cfg"
    # the spec names the config files' digests: a changed zoo.cfg restarts ZooKeeper
    assert dict(zk.depends)["/srv/m1/etc/corral/zookeeper/zoo.cfg"] == sha256(cfg)


def test_agents_get_resources_attributes_and_kill_mode_process() -> None:
    inv = parse(INV)
    want = desired(inv, inv.hosts[3], "w1")
    [agent] = want.services
    argv = list(agent.argv)
    assert argv[argv.index("--master") + 1].startswith("zk://10.0.0.1:2181,")
    assert argv[argv.index("--resources") + 1] == "cpus:4"
    assert argv[argv.index("--attributes") + 1] == "rack:r1"
    assert argv[-2:] == ["--containerizers", "process"]
    assert agent.kill_mode == "process"
    spec = json.loads(want.files["/etc/corral/agent.json"])
    assert spec["kill_mode"] == "process" and spec["state"] == "/run/corral/agent.state"
    unit = desired(inv, inv.hosts[3], "w1", systemd=True)
    text = unit.files["/etc/systemd/system/corral-agent.service"]
    assert "KillMode=process" in text and "Delegate=yes" in text and "Restart=always" in text
    master_unit = desired(inv, inv.hosts[1], "w1", systemd=True)
    assert "KillMode" not in master_unit.files["/etc/systemd/system/corral-master.service"]


def test_one_master_without_zookeeper() -> None:
    inv = parse('[[hosts]]\nname = "a"\naddress = "h"\nroles = ["master", "agent"]\n')
    want = desired(inv, inv.hosts[0], "w")
    master, agent = want.services
    assert "--zk" not in master.argv
    assert list(agent.argv)[list(agent.argv).index("--master") + 1] == "h:5050"


def observed_as_deployed(want: Desired) -> Observed:
    """What a host reports right after `want` was carried out."""
    return Observed(
        wheel=want.wheel,
        files={p: sha256(t) for p, t in want.files.items()},
        services={s.name: ServiceSeen(True, sha256(want.spec_text(s))) for s in want.services},
    )


def test_a_fresh_host_needs_everything_in_order() -> None:
    inv = parse(INV)
    want = desired(inv, inv.hosts[0], "w1")
    actions = plan(want, Observed(files=dict.fromkeys(want.files)))
    assert isinstance(actions[0], InstallWheel)
    writes = [a for a in actions if isinstance(a, WriteFile)]
    assert {a.path for a in writes} == set(want.files) and all(a.new for a in writes)
    starts = [a for a in actions if isinstance(a, StartService)]
    assert [a.name for a in starts] == ["zookeeper", "master"]
    assert actions.index(starts[0]) > max(actions.index(w) for w in writes)


def test_a_deployed_host_is_unchanged() -> None:
    inv = parse(INV)
    for host in inv.hosts:
        for systemd in (False, True):
            want = desired(inv, host, "w1", systemd=systemd)
            assert plan(want, observed_as_deployed(want)) == []


def test_a_new_wheel_reinstalls_and_restarts_corral_but_not_zookeeper() -> None:
    inv = parse(INV)
    seen = observed_as_deployed(desired(inv, inv.hosts[0], "w1"))
    actions = plan(desired(inv, inv.hosts[0], "w2"), seen)
    assert actions[0] == InstallWheel("w2")
    restarts = [a for a in actions if isinstance(a, StartService)]
    assert [(a.name, a.restart) for a in restarts] == [("master", True)]
    assert [a.path for a in actions if isinstance(a, WriteFile)] == [
        "/srv/m1/etc/corral/master.json"
    ]


def test_a_dead_service_is_started_and_a_dropped_role_stopped() -> None:
    inv = parse(INV)
    want = desired(inv, inv.hosts[3], "w1")
    seen = observed_as_deployed(want)
    dead = Observed(seen.systemd, seen.wheel, seen.files,
                    {**seen.services, "agent": ServiceSeen(False)})  # fmt: skip
    assert plan(want, dead) == [StartService("agent", restart=False, why="not running")]
    extra = Observed(seen.systemd, seen.wheel, seen.files,
                     {**seen.services, "master": ServiceSeen(True, "x")})  # fmt: skip
    assert plan(want, extra) == [StopService("master")]


def test_adding_a_zookeeper_host_reconfigures_the_ensemble() -> None:
    small = parse(INV.replace('["zookeeper", "master"]', '["master"]', 2))
    assert len(small.with_role("zookeeper")) == 1
    big = parse(INV)
    host = big.hosts[2]
    actions = plan(desired(big, host, "w"), observed_as_deployed(desired(small, host, "w")))
    names = {a.name for a in actions if isinstance(a, StartService)}
    assert names == {"zookeeper", "master"}  # new zoo.cfg; the master's --zk changed


def test_probe_answer_parses() -> None:
    req = json.loads(probe.request(Layout("/r"), ["/r/etc/corral/a.json"]))
    assert req["services"]["agent"]["state"] == "/r/run/corral/agent.state"
    seen = probe.parse(json.dumps({
        "systemd": False, "wheel": "w1", "files": {"/r/x": None},
        "services": {"agent": {"running": True, "spec": "s"}},
    }))  # fmt: skip
    assert seen.services["agent"] == ServiceSeen(True, "s") and seen.files == {"/r/x": None}


def test_health_needs_a_leader_and_every_agent() -> None:
    inv = parse(INV)
    h = judge({"10.0.0.1:5050": (307, None), "10.0.0.2:5050": (200, {"slaves": []})})
    assert h.leader == "10.0.0.2:5050" and h.standbys == 1
    assert not h.healthy(inv) and "waiting for a1" in h.describe(inv)
    h = judge({"10.0.0.2:5050": (200, {"slaves": [{"hostname": "10.0.0.4", "active": True}]})})
    assert h.healthy(inv)
    assert not judge({"10.0.0.1:5050": (503, None)}).healthy(inv)


FRAMEWORKS = INV.replace(
    'roles = ["zookeeper", "master"]\nroot = "/srv/m1"',
    'roles = ["zookeeper", "master", "services", "jobs"]\nroot = "/srv/m1"',
)


def test_the_frameworks_follow_the_masters_through_zk_and_keep_their_state_there() -> None:
    inv = parse(FRAMEWORKS)
    want = desired(inv, inv.hosts[0], "w1")
    assert [s.name for s in want.services] == ["zookeeper", "master", "services", "jobs"]
    zk = "zk://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181/corral"
    services, jobs = want.services[2:]
    assert services.argv[3:] == (
        "services", "--master", zk, "--host", "10.0.0.1", "--port", "8080",
        "--work-dir", "/srv/m1/var/lib/corral/services", "--zk", zk,
    )  # fmt: skip
    assert jobs.argv[3:6] == ("jobs", "--master", zk) and "4400" in jobs.argv
    assert services.depends == (("wheel", "w1"),) and services.kill_mode == "control-group"
    one = parse('[[hosts]]\nname = "m"\naddress = "10.0.0.9"\nroles = ["master", "services"]\n')
    [_, alone] = desired(one, one.hosts[0], "w1").services
    argv = list(alone.argv)
    assert argv[argv.index("--master") + 1] == "10.0.0.9:5050" and "--zk" not in argv


def test_an_upgrade_step_restarts_only_its_own_service() -> None:
    inv = parse(FRAMEWORKS)
    for systemd in (False, True):
        seen = observed_as_deployed(desired(inv, inv.hosts[0], "w1", systemd=systemd))
        want = desired(inv, inv.hosts[0], "w2", systemd=systemd)
        full = plan(want, seen)
        restarted = [a.name for a in full if isinstance(a, StartService)]
        assert restarted == ["master", "services", "jobs"]
        master_step = restrict(full, want, frozenset({"master"}))
        assert master_step[0] == InstallWheel("w2")
        assert [a.name for a in master_step if isinstance(a, StartService)] == ["master"]
        # the frameworks' specs are not written yet, so their own steps still see a change
        written = [a.path for a in master_step if isinstance(a, WriteFile)]
        assert written == [want.spec_path("master")]
        seen_after = observed_as_deployed(want)
        for name in ("services", "jobs"):
            seen_after.files[want.spec_path(name)] = seen.files[want.spec_path(name)]
            seen_after.services[name] = seen.services[name]
        later = restrict(plan(want, seen_after), want, frozenset({"services"}))
        assert [type(a).__name__ for a in later] == ["WriteFile", "StartService"]
        assert later[1] == StartService("services", restart=True, why="its spec changed")


def test_health_needs_each_framework_registered_and_its_api_answering() -> None:
    inv = parse(FRAMEWORKS)
    doc = {
        "slaves": [{"hostname": "10.0.0.4", "active": True}],
        "frameworks": [{"name": "services", "active": True}, {"name": "jobs", "active": False}],
    }
    h = judge({"10.0.0.2:5050": (200, doc)}, frozenset({"10.0.0.1:8080"}))
    assert not h.healthy(inv)
    assert h.describe(inv) == (
        "leader 10.0.0.2:5050, 1/1 agents registered, 1/2 frameworks registered "
        "(waiting for jobs (not registered), jobs on m1)"
    )
    doc["frameworks"][1]["active"] = True
    assert judge({"10.0.0.2:5050": (200, doc)}, frozenset({"10.0.0.1:8080", "10.0.0.1:4400"})
                 ).healthy(inv)  # fmt: skip


def test_supervisor_backoff() -> None:
    assert backoff(0) == 0.0 and backoff(1) == 0.5 and backoff(2) == 1.0
    assert backoff(50) == BACKOFF_MAX
    assert next_failures(5, ran_for=1.0) == 6
    assert next_failures(5, ran_for=60.0) == 1
