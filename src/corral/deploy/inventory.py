"""The deploy inventory: a TOML file naming hosts, their roles and SSH settings (pure).

`parse(text, source)` returns an `Inventory` or raises `InventoryError` naming the file, the
line and the field. Format: docs/deploy.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from corral.resources import ResourceError, parse_attributes
from corral.resources import parse as parse_resources

ROLES = ("zookeeper", "master", "agent", "services", "jobs")
FRAMEWORK_ROLES = ("services", "jobs")  # the built-in frameworks, run as services too
ZK_CLASSPATH = (
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
    "/usr/share/java/slf4j-api.jar",
)


class InventoryError(ValueError):
    """An inventory that cannot be deployed; the message names the line and the field."""


@dataclass(frozen=True)
class Ssh:
    user: str = "root"
    port: int = 22
    key: str | None = None  # a private key file; None: the SSH agent and ~/.ssh defaults
    known_hosts: str | None = None  # a known_hosts file; None: ~/.ssh/known_hosts
    check_host_key: bool = True


@dataclass(frozen=True)
class Cluster:
    zk_path: str = "/corral"
    master_port: int = 5050
    agent_port: int = 5051
    services_port: int = 8080
    jobs_port: int = 4400
    zk_client_port: int = 2181
    zk_peer_port: int = 2888
    zk_election_port: int = 3888
    zk_tick_ms: int = 2000
    zk_classpath: tuple[str, ...] = ZK_CLASSPATH
    java: str = "java"
    python: str = "python3"
    pip_args: tuple[str, ...] = ()
    master_flags: tuple[str, ...] = ()
    agent_flags: tuple[str, ...] = ()
    services_flags: tuple[str, ...] = ()
    jobs_flags: tuple[str, ...] = ()

    def framework_port(self, role: str) -> int:
        return self.services_port if role == "services" else self.jobs_port


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    roles: tuple[str, ...]
    root: str = "/"
    ssh: Ssh = field(default_factory=Ssh)
    resources: str = ""
    attributes: str = ""  # Mesos's syntax, 'rack:a;zone:eu'
    python: str = "python3"
    flags: tuple[str, ...] = ()

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Inventory:
    cluster: Cluster
    hosts: tuple[Host, ...]

    def with_role(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.has(role))

    @property
    def quorum(self) -> int:
        """More than half the masters (what each master's --quorum must be)."""
        return len(self.with_role("master")) // 2 + 1

    def zk_url(self) -> str | None:
        """zk://h1:2181,h2:2181/corral over the zookeeper hosts; None without any."""
        zks = self.with_role("zookeeper")
        if not zks:
            return None
        port = self.cluster.zk_client_port
        return "zk://" + ",".join(f"{h.address}:{port}" for h in zks) + self.cluster.zk_path

    def master_url(self) -> str:
        """How agents and frameworks find the leading master: zk://, or the only master."""
        return self.zk_url() or f"{self.with_role('master')[0].address}:{self.cluster.master_port}"


CLUSTER_KEYS = {
    "zk_path": str,
    "master_port": int,
    "agent_port": int,
    "services_port": int,
    "jobs_port": int,
    "zk_client_port": int,
    "zk_peer_port": int,
    "zk_election_port": int,
    "zk_tick_ms": int,
    "zk_classpath": list,
    "java": str,
    "python": str,
    "pip_args": list,
    "master_flags": list,
    "agent_flags": list,
    "services_flags": list,
    "jobs_flags": list,
}
SSH_KEYS = {"user": str, "port": int, "key": str, "known_hosts": (str, bool)}
HOST_KEYS = {
    "name": str,
    "address": str,
    "roles": list,
    "root": str,
    "ssh": dict,
    "resources": str,
    "attributes": dict,
    "python": str,
    "flags": list,
}
PORT_KEYS = (
    "master_port",
    "agent_port",
    "services_port",
    "jobs_port",
    "zk_client_port",
    "zk_peer_port",
    "zk_election_port",
)


class _Where:
    """Finds the line of a field, for messages (tomllib gives values, not positions)."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def _span(self, table: str, index: int | None) -> tuple[int, int]:
        """The lines [start, end) of a table (the index-th [[hosts]]), or (-1, -1)."""
        header = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.]+)\s*\]\]?")
        start, seen = -1, -1
        for n, line in enumerate(self.lines):
            m = header.match(line)
            if not m:
                continue
            name = m.group(1)
            if start >= 0 and not name.startswith(table + "."):
                return start, n
            if start < 0 and name == table:
                seen += 1
                if index is None or seen == index:
                    start = n
        return (start, len(self.lines)) if start >= 0 else (-1, -1)

    def line(self, table: str, index: int | None, key: str | None) -> int | None:
        if not table:
            if key is None:
                return None
            start, end = self._span(key, None)
            return start + 1 if start >= 0 else None
        start, end = self._span(table, index)
        if start < 0:
            return None
        if key is not None:
            key_re = re.compile(
                rf"^\s*({re.escape(key)}\s*=|\[\s*{re.escape(table)}\.{re.escape(key)}\s*\])"
            )
            for n in range(start, end):
                if key_re.match(self.lines[n]):
                    return n + 1
        return start + 1

    def error(
        self,
        what: str,
        message: str,
        table: str = "",
        index: int | None = None,
        key: str | None = None,
    ) -> InventoryError:
        n = self.line(table, index, key)
        at = f"{self.source}:{n}" if n else self.source
        return InventoryError(f"{at}: {what}: {message}")


def _check_type(
    where: _Where, what: str, value: Any, want: Any, table: str, index: int | None, key: str
) -> None:
    ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
    if not ok:
        names = " or ".join(t.__name__ for t in (want if isinstance(want, tuple) else (want,)))
        raise where.error(what, f"must be {names}, not {type(value).__name__}", table, index, key)


def _strings(
    where: _Where, what: str, value: list[Any], table: str, index: int | None, key: str
) -> tuple[str, ...]:
    for item in value:
        if not isinstance(item, str):
            raise where.error(what, "must be a list of strings", table, index, key)
    return tuple(value)


def _ssh(
    where: _Where, raw: dict[str, Any], base: Ssh, what: str, table: str, index: int | None
) -> Ssh:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SSH_KEYS:
            raise where.error(
                f"{what}.{key}", f"unknown field (known: {', '.join(SSH_KEYS)})", table, index, key
            )
        _check_type(where, f"{what}.{key}", value, SSH_KEYS[key], table, index, key)
        if key == "port" and not 0 < value < 65536:
            raise where.error(f"{what}.port", f"{value} is not a port (1-65535)", table, index, key)
        if key == "known_hosts":
            if value is True:
                raise where.error(
                    f"{what}.known_hosts",
                    "a file, or false to skip host key checks",
                    table,
                    index,
                    key,
                )
            if value is False:
                values["check_host_key"] = False
                continue
        values[key] = value
    return Ssh(**{**base.__dict__, **values})


def _attributes(where: _Where, what: str, raw: dict[str, Any], index: int) -> str:
    parts = []
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise where.error(
                f"{what}.attributes.{key}",
                "must be a string or a number",
                "hosts",
                index,
                "attributes",
            )
        if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", key) or (
            isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9_.\-/]+", value)
        ):
            raise where.error(
                f"{what}.attributes.{key}",
                "names and text values may hold only letters, digits and _ . - /",
                "hosts",
                index,
                "attributes",
            )
        parts.append(f"{key}:{value}")
    text = ";".join(parts)
    try:
        parse_attributes(text)
    except ResourceError as exc:
        raise where.error(f"{what}.attributes", str(exc), "hosts", index, "attributes") from None
    return text


def parse(text: str, source: str = "inventory.toml") -> Inventory:
    """The inventory in `text`, validated; `InventoryError` names the line and field."""
    where = _Where(source, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        at = f"{source}:{m.group(1)}" if m else source
        raise InventoryError(f"{at}: not valid TOML: {exc}") from None
    for key in doc:
        if key not in ("cluster", "ssh", "hosts"):
            raise where.error(key, "unknown table (known: cluster, ssh, hosts)", "", None, key)
    raw_cluster = doc.get("cluster", {})
    if not isinstance(raw_cluster, dict):
        raise where.error("cluster", "must be a table", "", None, "cluster")
    cvalues: dict[str, Any] = {}
    for key, value in raw_cluster.items():
        if key not in CLUSTER_KEYS:
            raise where.error(
                f"cluster.{key}",
                f"unknown field (known: {', '.join(CLUSTER_KEYS)})",
                "cluster",
                None,
                key,
            )
        _check_type(where, f"cluster.{key}", value, CLUSTER_KEYS[key], "cluster", None, key)
        if isinstance(value, list):
            value = _strings(where, f"cluster.{key}", value, "cluster", None, key)
        if key in PORT_KEYS and not 0 < value < 65536:
            raise where.error(
                f"cluster.{key}", f"{value} is not a port (1-65535)", "cluster", None, key
            )
        if key == "zk_path" and (not value.startswith("/") or value.endswith("/")):
            raise where.error(
                "cluster.zk_path", "must start with / and not end with one", "cluster", None, key
            )
        if key in ("services_flags", "jobs_flags") and any(
            f == "--name" or f.startswith("--name=") for f in value
        ):
            raise where.error(
                f"cluster.{key}",
                "--name cannot be set: deploy and upgrade find the framework at the master "
                "by its role's name",
                "cluster",
                None,
                key,
            )
        if key == "zk_tick_ms" and value < 100:
            raise where.error("cluster.zk_tick_ms", "must be at least 100", "cluster", None, key)
        cvalues[key] = value
    cluster = Cluster(**cvalues)
    if len({getattr(cluster, k) for k in PORT_KEYS}) != len(PORT_KEYS):
        raise where.error(
            "cluster",
            "the ports of masters, agents, the frameworks and ZooKeeper must differ",
            "cluster",
            None,
            None,
        )
    raw_ssh = doc.get("ssh", {})
    if not isinstance(raw_ssh, dict):
        raise where.error("ssh", "must be a table", "", None, "ssh")
    ssh = _ssh(where, raw_ssh, Ssh(), "ssh", "ssh", None)
    raw_hosts = doc.get("hosts")
    if not isinstance(raw_hosts, list) or not raw_hosts:
        raise where.error("hosts", "name at least one host ([[hosts]] tables)", "", None, None)
    hosts: list[Host] = []
    for i, raw in enumerate(raw_hosts):
        if not isinstance(raw, dict):
            raise where.error(f"hosts[{i}]", "must be a table ([[hosts]])", "", None, "hosts")
        named = raw.get("name")
        what = f"hosts[{i}]" + (f" ({named})" if isinstance(named, str) else "")
        for key in ("name", "address", "roles"):
            if key not in raw:
                raise where.error(f"{what}.{key}", "is required", "hosts", i, None)
        for key, value in raw.items():
            if key not in HOST_KEYS:
                raise where.error(
                    f"{what}.{key}",
                    f"unknown field (known: {', '.join(HOST_KEYS)})",
                    "hosts",
                    i,
                    key,
                )
            _check_type(where, f"{what}.{key}", value, HOST_KEYS[key], "hosts", i, key)
        name = raw["name"]
        what = f"hosts[{i}] ({name})"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
            raise where.error(f"{what}.name", "letters, digits and _ . - only", "hosts", i, "name")
        if not raw["address"] or any(c.isspace() or c in "/,:" for c in raw["address"]):
            raise where.error(
                f"{what}.address",
                f"{raw['address']!r} is not a host name or IPv4 address",
                "hosts",
                i,
                "address",
            )
        roles = _strings(where, f"{what}.roles", raw["roles"], "hosts", i, "roles")
        if not roles:
            raise where.error(
                f"{what}.roles", f"name at least one of {', '.join(ROLES)}", "hosts", i, "roles"
            )
        for role in roles:
            if role not in ROLES:
                raise where.error(
                    f"{what}.roles",
                    f"unknown role {role!r} (known: {', '.join(ROLES)})",
                    "hosts",
                    i,
                    "roles",
                )
        if len(set(roles)) != len(roles):
            raise where.error(f"{what}.roles", "a role is named twice", "hosts", i, "roles")
        root = raw.get("root", "/")
        if not root.startswith("/"):
            raise where.error(f"{what}.root", "must be an absolute path", "hosts", i, "root")
        resources = raw.get("resources", "")
        attributes = ""
        if (resources or "attributes" in raw) and "agent" not in roles:
            key = "resources" if resources else "attributes"
            raise where.error(
                f"{what}.{key}", "only agents have resources and attributes", "hosts", i, key
            )
        if resources:
            try:
                parse_resources(resources)
            except ResourceError as exc:
                raise where.error(f"{what}.resources", str(exc), "hosts", i, "resources") from None
        if "attributes" in raw:
            attributes = _attributes(where, what, raw["attributes"], i)
        hosts.append(
            Host(
                name=name,
                address=raw["address"],
                roles=tuple(r for r in ROLES if r in roles),
                root=root.rstrip("/") or "/",
                ssh=_ssh(where, raw.get("ssh", {}), ssh, f"{what}.ssh", "hosts", i),
                resources=resources,
                attributes=attributes,
                python=raw.get("python", cluster.python),
                flags=_strings(where, f"{what}.flags", raw.get("flags", []), "hosts", i, "flags"),
            )
        )
    for attr in ("name", "address"):
        seen: dict[str, int] = {}
        for i, h in enumerate(hosts):
            value = getattr(h, attr)
            if value in seen:
                raise where.error(
                    f"hosts[{i}] ({h.name}).{attr}",
                    f"{value!r} is also host {seen[value]}'s",
                    "hosts",
                    i,
                    attr,
                )
            seen[value] = i
    inv = Inventory(cluster=cluster, hosts=tuple(hosts))
    masters, zks = inv.with_role("master"), inv.with_role("zookeeper")
    if not masters:
        raise where.error("hosts", "no host has the master role", "", None, None)
    if len(masters) > 1 and not zks:
        raise where.error(
            "hosts",
            f"{len(masters)} masters need ZooKeeper: give the zookeeper role to 1, 3 or 5 hosts",
            "",
            None,
            None,
        )
    for role in FRAMEWORK_ROLES:
        if len(inv.with_role(role)) > 1 and not zks:
            raise where.error(
                "hosts",
                f"{len(inv.with_role(role))} {role} hosts share the framework's state through "
                f"ZooKeeper: give the zookeeper role to 1, 3 or 5 hosts, or {role} to one host",
                "",
                None,
                None,
            )
    if len(zks) % 2 == 0 and zks:
        raise where.error(
            "hosts",
            f"{len(zks)} ZooKeeper hosts: use an odd number (an even "
            "ensemble tolerates no more failures than one host fewer)",
            "",
            None,
            None,
        )
    return inv
