"""``corral master``, ``corral agent`` and ``corral up``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from corral import daemon_flags
from corral.cli import log_flags as lf
from corral.cli import security_options as so
from corral.cli.common import fail

if TYPE_CHECKING:
    pass

CONTAINERIZERS = ("linux", "docker", "process")  # what --containerizers accepts
ISOLATORS = ("network/private",)  # what --isolation accepts


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def master(
    ip: str = typer.Option("127.0.0.1", "--ip", help="Address to listen on."),
    port: int = typer.Option(5050, "--port", help="Port to listen on."),
    hostname: str = typer.Option("", "--hostname", help="Hostname to advertise (default: --ip)."),
    work_dir: Path = typer.Option(
        Path("/var/lib/corral/master"), "--work-dir", help="Where the master keeps its state."
    ),
    offer_timeout: float = typer.Option(
        0.0, "--offer-timeout", help="Seconds before an unused offer is rescinded (0: never)."
    ),
    agent_ping_timeout: float = typer.Option(
        15.0, "--agent-ping-timeout", help="Seconds between pings to agents."
    ),
    max_agent_ping_timeouts: int = typer.Option(
        5, "--max-agent-ping-timeouts", help="Missed pings before an agent is removed."
    ),
    weights: str = typer.Option("", "--weights", help="Role weights, e.g. 'prod=3,dev=1'."),
    zk: str = typer.Option("", "--zk", help="zk://h1:2181,h2:2181,h3:2181/corral for HA masters."),
    quorum: int = typer.Option(
        0, "--quorum", help="With --zk: more than half the number of masters."
    ),
    zk_session_timeout: float = typer.Option(10.0, "--zk-session-timeout", help="Seconds."),
    agent_reregister_timeout: float = typer.Option(
        600.0,
        "--agent-reregister-timeout",
        help="Seconds agents known from the registry have to re-register after a failover.",
    ),
    drain_notice: float = typer.Option(
        10.0,
        "--drain-notice",
        help="DRAIN_AGENT: seconds frameworks are given (inverse offers) to move their tasks off "
        "the agent before the master kills what is left.",
    ),
    preemption_notice: float = typer.Option(
        10.0,
        "--preemption-notice",
        help="Seconds the frameworks of preempted tasks are given (inverse offers) to kill "
        "them before the master does (docs/preemption.md).",
    ),
    preemption_hold: float = typer.Option(
        10.0,
        "--preemption-hold",
        help="Seconds after the notice (and the victims' kill grace) that resources freed by a "
        "preemption are offered only to the framework that asked.",
    ),
    authenticate_frameworks: bool = so.AUTH_FRAMEWORKS,
    authenticate_agents: bool = so.AUTH_AGENTS,
    authenticate_http_readonly: bool = so.AUTH_READONLY,
    authenticate_http_readwrite: bool = so.AUTH_READWRITE,
    credentials: Path | None = so.CREDENTIALS,
    acls: Path | None = so.ACLS,
    tls_cert: Path | None = so.TLS_CERT,
    tls_key: Path | None = so.TLS_KEY,
    log_level: str = typer.Option("info", "--log-level"),
    log_dir: Path | None = lf.LOG_DIR,
    log_format: str = lf.LOG_FORMAT,
    log_max_bytes: int = lf.LOG_MAX_BYTES,
    log_backups: int = lf.LOG_BACKUPS,
) -> None:
    """Run a master."""
    daemon_flags.record(master, locals())
    from corral.master.core.config import MasterConfig
    from corral.master.server import run_master

    lf.configure("master", log_level, log_dir, log_format, log_max_bytes, log_backups)
    parsed: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in weights.split(","))):
        role, sep, value = part.partition("=")
        try:
            parsed[role] = float(value)
            if not sep or parsed[role] <= 0:
                raise ValueError
        except ValueError:
            fail(f"--weights: cannot parse {part!r}; expected ROLE=POSITIVE_NUMBER")
    if port <= 0 or port > 65535:
        fail("--port must be between 1 and 65535")
    if zk:
        from corral.coordination import parse_zk_url

        try:
            parse_zk_url(zk)
        except ValueError as exc:
            fail(f"--zk: {exc}")
        if quorum < 1:
            fail("--quorum is required with --zk (more than half the number of masters)")
    elif quorum:
        fail("--quorum only makes sense with --zk")
    if zk_session_timeout <= 0:
        fail("--zk-session-timeout must be positive")
    if drain_notice < 0:
        fail("--drain-notice must not be negative")
    if preemption_notice < 0:
        fail("--preemption-notice must not be negative")
    if preemption_hold < 0:
        fail("--preemption-hold must not be negative")
    from corral.security.options import SecurityFlagError, build

    try:
        security = build(
            authenticate_frameworks=authenticate_frameworks,
            authenticate_agents=authenticate_agents,
            authenticate_http_readonly=authenticate_http_readonly,
            authenticate_http_readwrite=authenticate_http_readwrite,
            credentials=credentials,
            acls=acls,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
    except SecurityFlagError as exc:
        fail(str(exc))
    work_dir.mkdir(parents=True, exist_ok=True)
    config = MasterConfig(
        security=security,
        ip=ip,
        port=port,
        hostname=hostname or ip,
        offer_timeout=offer_timeout or None,
        agent_ping_timeout=agent_ping_timeout,
        max_agent_ping_timeouts=max_agent_ping_timeouts,
        weights=parsed,
        work_dir=str(work_dir),
        zk=zk or None,
        zk_session_timeout=zk_session_timeout,
        quorum=quorum or None,
        agent_reregister_timeout=agent_reregister_timeout,
        drain_notice=drain_notice,
        preemption_notice=preemption_notice,
        preemption_hold=preemption_hold,
    )
    _run(run_master(config))


def agent(
    master_addr: str = typer.Option(
        os.environ.get("CORRAL_MASTER", "127.0.0.1:5050"),
        "--master",
        help="The master: HOST:PORT, or zk://h1:2181,h2:2181/corral to follow the leader.",
    ),
    work_dir: Path = typer.Option(
        Path("/var/lib/corral/agent"), "--work-dir", help="Sandboxes and checkpoints go here."
    ),
    ip: str = typer.Option("127.0.0.1", "--ip", help="Address to listen on."),
    port: int = typer.Option(5051, "--port", help="Port to listen on."),
    hostname: str = typer.Option("", "--hostname", help="Hostname to advertise."),
    resources: str = typer.Option(
        "",
        "--resources",
        help="e.g. 'cpus:4;mem:8192;disk:20000;ports:[31000-32000]'; detected when omitted.",
    ),
    attributes: str = typer.Option("", "--attributes", help="e.g. 'rack:a;zone:eu'."),
    executor_registration_timeout: float = typer.Option(
        60.0,
        "--executor-registration-timeout",
        help="Seconds an executor has to subscribe (and a docker image has to be pulled).",
    ),
    executor_shutdown_grace_period: float = typer.Option(
        5.0, "--executor-shutdown-grace-period", help="Seconds between SHUTDOWN and kill."
    ),
    status_update_retry: float = typer.Option(
        10.0,
        "--status-update-retry",
        help="First resend interval of unacknowledged status updates.",
    ),
    zk_session_timeout: float = typer.Option(10.0, "--zk-session-timeout", help="Seconds."),
    recovery_timeout: float = typer.Option(
        900.0,
        "--recovery-timeout",
        help="Seconds the launcher waits for this agent to come back before it kills the tasks "
        "and exits (Mesos's --recovery_timeout; 0: never).",
    ),
    containerizers: str = typer.Option(
        "linux,process",
        "--containerizers",
        help="Comma list, in order of preference: 'linux' (cgroups v1 + namespaces), 'process'; "
        "add 'docker' to run DOCKER containers through dockerd.",
    ),
    docker_socket: str = typer.Option(
        "",
        "--docker-socket",
        "--docker",
        help="The dockerd endpoint: a socket path, unix://PATH or tcp://HOST:PORT "
        "(default: $DOCKER_HOST, else unix:///var/run/docker.sock).",
    ),
    cgroups_enable_cfs: bool = typer.Option(
        False, "--cgroups-enable-cfs", help="Linux containerizer: hard CPU quota at 'cpus'."
    ),
    cgroups_pids_max: int = typer.Option(
        4096, "--cgroups-pids-max", help="Linux containerizer: most processes per container."
    ),
    enforce_container_disk_quota: bool = typer.Option(
        False,
        "--enforce-container-disk-quota",
        help="Kill a container whose sandbox outgrows its 'disk' resource.",
    ),
    disk_watch_interval: float = typer.Option(
        15.0, "--disk-watch-interval", help="Seconds between sandbox disk usage checks."
    ),
    usage_report_interval: float = typer.Option(
        15.0,
        "--usage-report-interval",
        help="Seconds between reports of containers' resource usage to the master; 0: never.",
    ),
    isolation: str = typer.Option(
        "",
        "--isolation",
        help="Linux containerizer, comma list: 'network/private' (a network namespace per task).",
    ),
    images_dir: Path | None = typer.Option(
        None,
        "--images-dir",
        help="Root filesystems (DIR/NAME/ or DIR/NAME.tar[.gz]) for MESOS containers' images.",
    ),
    recover: str = typer.Option(
        "reconnect",
        "--recover",
        help="'reconnect': re-adopt tasks an earlier agent run left; 'cleanup': kill them.",
    ),
    switch_user: bool | None = typer.Option(
        None,
        "--switch-user/--no-switch-user",
        help="Run each task as the user it names (CommandInfo.user, else FrameworkInfo.user); "
        "off: as the agent's user. Default: on when the agent runs as root.",
    ),
    authenticate_http_executors: bool = typer.Option(
        False,
        "--authenticate-http-executors",
        help="Executors must send the token the agent gives each one "
        "(MESOS_EXECUTOR_AUTHENTICATION_TOKEN) on the executor API; pymesos executors do not.",
    ),
    credential: Path | None = so.CREDENTIAL,
    authenticate_http_readonly: bool = so.AUTH_READONLY,
    authenticate_http_readwrite: bool = so.AUTH_READWRITE,
    credentials: Path | None = so.CREDENTIALS,
    acls: Path | None = so.ACLS,
    tls_cert: Path | None = so.TLS_CERT,
    tls_key: Path | None = so.TLS_KEY,
    tls_ca: Path | None = so.TLS_CA,
    log_level: str = typer.Option("info", "--log-level"),
    log_dir: Path | None = lf.LOG_DIR,
    log_format: str = lf.LOG_FORMAT,
    log_max_bytes: int = lf.LOG_MAX_BYTES,
    log_backups: int = lf.LOG_BACKUPS,
) -> None:
    """Run an agent."""
    daemon_flags.record(agent, locals())
    from corral.agent.agent import AgentConfig
    from corral.agent.host import resolve
    from corral.agent.server import run_agent
    from corral.resources import ResourceError, parse_attributes

    lf.configure("agent", log_level, log_dir, log_format, log_max_bytes, log_backups)
    work_dir = work_dir.absolute()
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        res = resolve(resources, str(work_dir))
    except ResourceError as exc:
        fail(f"--resources: {exc}")
    try:
        attrs = parse_attributes(attributes)
    except ResourceError as exc:
        fail(f"--attributes: {exc}")
    from corral.coordination import is_zk_url, parse_zk_url

    if is_zk_url(master_addr):
        try:
            parse_zk_url(master_addr)
        except ValueError as exc:
            fail(f"--master: {exc}")
    elif ":" not in master_addr:
        fail("--master must be HOST:PORT or a zk:// URL")
    names = tuple(c.strip() for c in containerizers.split(",") if c.strip())
    for name in names:
        if name not in CONTAINERIZERS:
            known = ", ".join(CONTAINERIZERS)
            fail(f"--containerizers: unknown containerizer {name!r} (known: {known})")
    if not names:
        fail("--containerizers: name at least one containerizer")
    if "linux" in names and "process" not in names:
        from corral.agent.cgroups import unavailable

        why = unavailable()
        if why:
            fail(f"--containerizers linux: {why}")
    if cgroups_pids_max < 0:
        fail("--cgroups-pids-max must not be negative")
    if not disk_watch_interval > 0:
        fail("--disk-watch-interval must be a positive number of seconds")
    if not usage_report_interval >= 0:
        fail("--usage-report-interval must be a number of seconds, 0 or more")
    isolators = tuple(i.strip() for i in isolation.split(",") if i.strip())
    for name in isolators:
        if name not in ISOLATORS:
            fail(f"--isolation: unknown isolator {name!r} (known: {', '.join(ISOLATORS)})")
    if isolators and "linux" not in names:
        fail("--isolation needs the linux containerizer (--containerizers linux)")
    if images_dir is not None and not images_dir.is_dir():
        fail(f"--images-dir: {images_dir} is not a directory")
    if recover not in ("reconnect", "cleanup"):
        fail("--recover must be 'reconnect' or 'cleanup'")
    from corral.agent.docker_spec import normalize_endpoint

    try:
        docker_endpoint = normalize_endpoint(docker_socket)
    except ValueError as exc:
        fail(f"--docker-socket: {exc}")
    from corral.security.client import ClientSecurity
    from corral.security.options import SecurityFlagError, build, own_credential

    try:
        security = build(
            authenticate_http_readonly=authenticate_http_readonly,
            authenticate_http_readwrite=authenticate_http_readwrite,
            credentials=credentials,
            acls=acls,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        principal, secret = own_credential(credential)
    except SecurityFlagError as exc:
        fail(str(exc))
    master_client = ClientSecurity(
        principal, secret, str(tls_ca) if tls_ca else None, tls=tls_ca is not None
    )
    from corral.security.tls import TLSError

    try:
        master_client.ssl_context()
    except TLSError as exc:
        fail(f"--tls-ca: {exc}")
    config = AgentConfig(
        security=security,
        master_client=master_client,
        master=master_addr,
        work_dir=work_dir,
        resources=res,
        attributes=attrs,
        ip=ip,
        port=port,
        hostname=hostname or ip,
        executor_registration_timeout=executor_registration_timeout,
        executor_shutdown_grace_period=executor_shutdown_grace_period,
        status_update_retry=status_update_retry,
        recovery_timeout=recovery_timeout,
        recover=recover,
        zk_session_timeout=zk_session_timeout,
        containerizers=names,
        cgroups_enable_cfs=cgroups_enable_cfs,
        cgroups_pids_max=cgroups_pids_max,
        docker_endpoint=docker_endpoint,
        enforce_container_disk_quota=enforce_container_disk_quota,
        disk_watch_interval=disk_watch_interval,
        usage_report_interval=usage_report_interval,
        isolation=isolators,
        images_dir=images_dir.absolute() if images_dir else None,
        switch_user=switch_user,
        authenticate_http_executors=authenticate_http_executors,
    )
    _run(run_agent(config))
