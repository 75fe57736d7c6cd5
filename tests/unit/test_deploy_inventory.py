"""The deploy inventory: parsing, defaults, and refusals that name the line and the field."""

from __future__ import annotations

import pytest

from corral.deploy.inventory import InventoryError, parse

ARTICLE = """\
[cluster]
zk_path = "/corral"

[ssh]
user = "root"
key = "~/.ssh/id_ed25519"

[[hosts]]
name = "m1"
address = "10.0.0.1"
roles = ["zookeeper", "master"]

[[hosts]]
name = "m2"
address = "10.0.0.2"
roles = ["zookeeper", "master"]

[[hosts]]
name = "m3"
address = "10.0.0.3"
roles = ["master", "zookeeper"]
[hosts.ssh]
port = 2222

[[hosts]]
name = "a1"
address = "10.0.0.4"
roles = ["agent"]
resources = "cpus:8;mem:16384"
attributes = { rack = "r1", ssd = "true", floor = 3 }
"""


def test_the_articles_layout() -> None:
    inv = parse(ARTICLE)
    assert [h.name for h in inv.with_role("master")] == ["m1", "m2", "m3"]
    assert inv.quorum == 2
    assert inv.zk_url() == "zk://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181/corral"
    m3, a1 = inv.hosts[2], inv.hosts[3]
    assert m3.roles == ("zookeeper", "master")  # canonical order
    assert m3.ssh.port == 2222 and m3.ssh.user == "root" and m3.ssh.key == "~/.ssh/id_ed25519"
    assert inv.hosts[0].ssh.port == 22
    assert a1.attributes == "rack:r1;ssd:true;floor:3"
    assert a1.resources == "cpus:8;mem:16384"
    assert a1.root == "/"


def test_one_master_needs_no_zookeeper() -> None:
    inv = parse('[[hosts]]\nname = "a"\naddress = "h"\nroles = ["master", "agent"]\n')
    assert inv.zk_url() is None and inv.quorum == 1


def refused(text: str) -> str:
    with pytest.raises(InventoryError) as err:
        parse(text, "inv.toml")
    return str(err.value)


HOST = '[[hosts]]\nname = "{n}"\naddress = "{a}"\nroles = {r}\n'


def host(n: str = "a", a: str = "10.0.0.1", r: str = '["master"]', extra: str = "") -> str:
    return HOST.format(n=n, a=a, r=r) + extra


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[hosts]\n", "inv.toml:1: not valid TOML"),
        ("", "inv.toml: hosts: name at least one host"),
        (host(r='["mastr"]'), "inv.toml:4: hosts[0] (a).roles: unknown role 'mastr'"),
        (host(r="[]"), "inv.toml:4: hosts[0] (a).roles: name at least one of"),
        (host(extra="colour = 1\n"), "inv.toml:5: hosts[0] (a).colour: unknown field"),
        (host(extra='root = "rel/dir"\n'), "inv.toml:5: hosts[0] (a).root: must be an absolute"),
        (
            '[[hosts]]\nname = "a"\nroles = ["agent"]\n',
            "inv.toml:1: hosts[0] (a).address: is required",
        ),
        (
            host() + host(n="b", r='["agent"]', extra='resources = "cpus:x"\n'),
            "inv.toml:9: hosts[1] (b).resources:",
        ),
        (host(extra='resources = "cpus:1"\n'), "inv.toml:5: hosts[0] (a).resources: only agents"),
        (
            host() + host(n="b", a="10.0.0.1"),
            "inv.toml:7: hosts[1] (b).address: '10.0.0.1' is also host 0's",
        ),
        (host() + host(a="10.0.0.2"), "inv.toml:6: hosts[1] (a).name: 'a' is also host 0's"),
        (host(r='["agent"]'), "inv.toml: hosts: no host has the master role"),
        (host() + host(n="b", a="x"), "hosts: 2 masters need ZooKeeper"),
        (
            host(r='["master", "zookeeper"]') + host(n="b", a="x", r='["zookeeper"]'),
            "hosts: 2 ZooKeeper hosts: use an odd number",
        ),
        ("[ssh]\nport = 70000\n" + host(), "inv.toml:2: ssh.port: 70000 is not a port"),
        ('[ssh]\nport = "22"\n' + host(), "inv.toml:2: ssh.port: must be int, not str"),
        ("[cluster]\nmaster_port = 2181\n" + host(), "inv.toml:1: cluster: the ports"),
        ('[cluster]\nzk_path = "corral"\n' + host(), "inv.toml:2: cluster.zk_path: must start"),
        (host(extra="[hosts.ssh]\nuser = 3\n"), "inv.toml:6: hosts[0] (a).ssh.user: must be str"),
        (
            host(r='["agent", "master"]', extra='attributes = { rack = "a b" }\n'),
            "inv.toml:5: hosts[0] (a).attributes.rack: names and text values",
        ),
        ("[clusters]\n" + host(), "inv.toml:1: clusters: unknown table"),
        (
            host(r='["master", "services"]') + host(n="b", a="x", r='["services"]'),
            "hosts: 2 services hosts share the framework's state through ZooKeeper",
        ),
        ("[cluster]\nservices_port = 5051\n" + host(), "inv.toml:1: cluster: the ports"),
        (
            '[cluster]\nservices_flags = ["--name", "web"]\n' + host(),
            "inv.toml:2: cluster.services_flags: --name cannot be set",
        ),
        (
            host(r='["master", "service"]'),
            "unknown role 'service' (known: zookeeper, master, agent, services, jobs)",
        ),
    ],
)
def test_refusals_name_line_and_field(text: str, message: str) -> None:
    assert message in refused(text)
