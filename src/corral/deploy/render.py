"""What each host must have (pure): its files and its services, from the inventory.

A host's files all live under its `root` (``/`` on a real machine; a directory of its own when
several test "hosts" share one machine):

    ROOT/opt/corral/venv/             corral, installed from a wheel
    ROOT/etc/corral/<service>.json    a service's spec, read by `corral supervise`
    ROOT/etc/corral/zookeeper/        zoo.cfg, log4j.properties
    ROOT/var/lib/corral/<service>/    work directories (ZooKeeper's data, myid, frameworks')
    ROOT/var/log/corral/<service>.log
    ROOT/run/corral/<service>.state   written by the running supervisor

Where systemd runs, each service is a unit `/etc/systemd/system/corral-<service>.service`
instead of a supervised spec.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field

from corral.deploy.inventory import FRAMEWORK_ROLES, Host, Inventory

SERVICE_ORDER = ("zookeeper", "master", "agent", "services", "jobs")
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Layout:
    root: str

    def path(self, *parts: str) -> str:
        base = "" if self.root == "/" else self.root
        return base + "/" + "/".join(parts)

    @property
    def venv(self) -> str:
        return self.path("opt", "corral", "venv")

    @property
    def python(self) -> str:
        return self.venv + "/bin/python"

    @property
    def installed(self) -> str:
        """Holds the digest of the wheel installed in the venv."""
        return self.path("opt", "corral", "installed")

    def wheel(self, filename: str) -> str:
        return self.path("opt", "corral", "wheels", filename)

    def spec(self, service: str) -> str:
        return self.path("etc", "corral", f"{service}.json")

    def state(self, service: str) -> str:
        return self.path("run", "corral", f"{service}.state")

    def work(self, service: str) -> str:
        return self.path("var", "lib", "corral", service)

    def log(self, service: str) -> str:
        return self.path("var", "log", "corral", f"{service}.log")

    @staticmethod
    def unit(service: str) -> str:
        return f"/etc/systemd/system/corral-{service}.service"


@dataclass(frozen=True)
class Service:
    """One long-running process of a host, as `corral supervise` or systemd runs it."""

    name: str
    argv: tuple[str, ...]
    log: str
    kill_mode: str = "control-group"  # or "process": stop only the main process (agents)
    env: tuple[tuple[str, str], ...] = (("PATH", CLEAN_PATH), ("LANG", "C.UTF-8"))
    stop_timeout: float = 10.0
    # what the process depends on beyond its argv: config files' and the wheel's digests, so
    # that a change to any of them shows as a changed spec and restarts the service
    depends: tuple[tuple[str, str], ...] = ()

    def spec_json(self, state_path: str) -> str:
        doc = {
            "name": self.name,
            "argv": list(self.argv),
            "env": dict(self.env),
            "log": self.log,
            "state": state_path,
            "kill_mode": self.kill_mode,
            "stop_timeout": self.stop_timeout,
            "depends": dict(self.depends),
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    def unit_text(self) -> str:
        """A systemd unit; agents get KillMode=process and Delegate=yes so that their tasks
        (children of the launcher) survive an agent restart."""
        env = " ".join(shlex.quote(f"{k}={v}") for k, v in self.env)
        lines = [
            "[Unit]",
            f"Description=corral {self.name}",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            f"ExecStart={shlex.join(self.argv)}",
            f"Environment={env}",
            "Restart=always",
            "RestartSec=1",
            f"TimeoutStopSec={self.stop_timeout:g}",
            f"StandardOutput=append:{self.log}",
            f"StandardError=append:{self.log}",
        ]
        if self.kill_mode == "process":
            lines += ["KillMode=process", "Delegate=yes"]
        for key, value in self.depends:
            lines.append(f"# depends {key} {value}")
        lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
        return "\n".join(lines)


@dataclass(frozen=True)
class Desired:
    """Everything a host must have."""

    host: Host
    layout: Layout
    wheel: str  # digest of the wheel that must be installed
    files: dict[str, str] = field(default_factory=dict)  # path -> content (configs, specs)
    services: tuple[Service, ...] = ()
    systemd: bool = False

    def spec_path(self, service: str) -> str:
        return self.layout.unit(service) if self.systemd else self.layout.spec(service)

    def spec_text(self, service: Service) -> str:
        if self.systemd:
            return service.unit_text()
        return service.spec_json(self.layout.state(service.name))


def zookeeper_files(inv: Inventory, host: Host, layout: Layout) -> dict[str, str]:
    c = inv.cluster
    zks = inv.with_role("zookeeper")
    myid = 1 + [h.name for h in zks].index(host.name)
    data = layout.work("zookeeper")
    conf = layout.path("etc", "corral", "zookeeper")
    lines = [
        f"tickTime={c.zk_tick_ms}",
        "initLimit=10",
        "syncLimit=5",
        f"dataDir={data}",
        f"clientPort={c.zk_client_port}",
        f"clientPortAddress={host.address}",
        "4lw.commands.whitelist=srvr,stat,ruok,mntr",
        "admin.enableServer=false",
        "autopurge.purgeInterval=24",
    ]
    if len(zks) > 1:
        lines += [
            f"server.{n}={h.address}:{c.zk_peer_port}:{c.zk_election_port}"
            for n, h in enumerate(zks, start=1)
        ]
    log4j = (
        "log4j.rootLogger=INFO, F\n"
        "log4j.appender.F=org.apache.log4j.FileAppender\n"
        f"log4j.appender.F.File={layout.log('zookeeper')}\n"
        "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.F.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n\n"
    )
    return {
        conf + "/zoo.cfg": "\n".join(lines) + "\n",
        conf + "/log4j.properties": log4j,
        data + "/myid": f"{myid}\n",
    }


def framework_service(inv: Inventory, host: Host, layout: Layout, role: str, wheel: str) -> Service:
    """`corral services` or `corral jobs`: following the leading master through zk://, its
    state (and election among the hosts of the role) in ZooKeeper when the inventory has
    it, else in SQLite under the work directory; so a restarted instance comes back with its
    framework id and adopts its running tasks."""
    c = inv.cluster
    listen = "--host" if role == "services" else "--ip"
    argv: tuple[str, ...] = (
        layout.python, "-m", "corral", role,
        "--master", inv.master_url(),
        listen, host.address,
        "--port", str(c.framework_port(role)),
        "--work-dir", layout.work(role),
    )  # fmt: skip
    zk = inv.zk_url()
    if zk:
        argv += ("--zk", zk)
    argv += c.services_flags if role == "services" else c.jobs_flags
    return Service(role, argv, layout.log(role), depends=(("wheel", wheel),))


def desired(inv: Inventory, host: Host, wheel: str, *, systemd: bool = False) -> Desired:
    """The files and services `host` must have to play its roles in `inv`."""
    c = inv.cluster
    layout = Layout(host.root)
    files: dict[str, str] = {}
    services: list[Service] = []
    corral = (layout.python, "-m", "corral")
    if host.has("zookeeper"):
        zk_files = zookeeper_files(inv, host, layout)
        files.update(zk_files)
        conf = layout.path("etc", "corral", "zookeeper")
        argv: tuple[str, ...] = (
            c.java,
            "-Xms32m",
            "-Xmx256m",
            f"-Dlog4j.configuration=file:{conf}/log4j.properties",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            ":".join(c.zk_classpath),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            conf + "/zoo.cfg",
        )
        depends = tuple(sorted((p, sha256(t)) for p, t in zk_files.items()))
        services.append(
            Service(
                "zookeeper",
                argv,
                layout.path("var", "log", "corral", "zookeeper.out"),
                depends=depends,
            )
        )
    zk = inv.zk_url()
    if host.has("master"):
        argv = (
            *corral,
            "master",
            "--ip", host.address,
            "--port", str(c.master_port),
            "--hostname", host.address,
            "--work-dir", layout.work("master"),
        )  # fmt: skip
        if zk:
            argv += ("--zk", zk, "--quorum", str(inv.quorum))
        argv += (*c.master_flags, *(host.flags if not host.has("agent") else ()))
        services.append(Service("master", argv, layout.log("master"), depends=(("wheel", wheel),)))
    if host.has("agent"):
        master = inv.master_url()
        argv = (
            *corral,
            "agent",
            "--master", master,
            "--ip", host.address,
            "--port", str(c.agent_port),
            "--hostname", host.address,
            "--work-dir", layout.work("agent"),
        )  # fmt: skip
        if host.resources:
            argv += ("--resources", host.resources)
        if host.attributes:
            argv += ("--attributes", host.attributes)
        argv += (*c.agent_flags, *host.flags)
        services.append(
            Service(
                "agent", argv, layout.log("agent"), kill_mode="process", depends=(("wheel", wheel),)
            )
        )
    for role in FRAMEWORK_ROLES:
        if host.has(role):
            services.append(framework_service(inv, host, layout, role, wheel))
    out = Desired(host, layout, wheel, files, tuple(services), systemd)
    for s in services:
        files[out.spec_path(s.name)] = out.spec_text(s)
    return out
