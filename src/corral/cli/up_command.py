"""`corral up`: a whole cluster on this machine (masters, agents, the built-in frameworks),
watched until Ctrl-C, SIGTERM or a closed terminal stops it all."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from corral.cli.common import CLUSTER_FILE, EXIT_RUNTIME, fail, port_in_use
from corral.cli.daemons import CONTAINERIZERS, ISOLATORS
from corral.cli.up_control import DirectoryBusy, WorkDirLock, after_exits

if TYPE_CHECKING:
    from corral.testing.cluster import LocalCluster


def local_tls(work_dir: Path) -> tuple[Path, Path, Path]:
    """``corral up --tls``: the CA and certificate under WORK_DIR/tls (made once, reused)."""
    from corral.security.local_ca import local_ca

    ca, cert, key = local_ca(work_dir / "tls")
    print(f"  TLS: certificates from a local CA; clients elsewhere: export CORRAL_TLS_CA={ca}")
    return ca, cert, key


def watch(cluster: LocalCluster, stopping: Callable[[], bool], work_dir: Path) -> None:
    """Until asked to stop or a process's exit stops the cluster: say each exit, and after a
    master's, who leads once a leader is elected."""
    names = [m.name for m in cluster.masters]
    said: set[str] = set()
    leader = cluster.leader() if len(names) > 1 else None
    while not stopping():
        time.sleep(0.2)
        procs = [*cluster.masters, *cluster.agents, *cluster.frameworks]
        dead = [p.name for p in procs if p and p.popen and p.popen.poll() is not None]
        if set(dead) - said:
            said |= set(dead)
            verdict = after_exits(dead, names)
            print(f"{verdict.message} (see {work_dir / 'logs'})", file=sys.stderr, flush=True)
            if verdict.stop:
                return
            leader = None
        if len(names) > 1 and leader is None and (now := cluster.leader()):
            leader = now
            if said:
                print(f"  the leading master is now http://{leader}", flush=True)


def up(
    agents: int = typer.Option(2, "--agents", help="How many agents to start."),
    masters: int = typer.Option(
        1, "--masters", help="How many masters; more than one also starts a 3-node ZooKeeper."
    ),
    port: int = typer.Option(5050, "--port", help="The (first) master's port."),
    work_dir: Path = typer.Option(
        Path.home() / ".corral" / "cluster",
        "--work-dir",
        help="State and logs of the local cluster.",
    ),
    resources: str = typer.Option(
        "",
        "--resources",
        help="Resources of each agent (default: this host's, split between agents).",
    ),
    containerizers: str = typer.Option(
        "", "--containerizers", help="Passed to every agent (default: the agent's, linux,process)."
    ),
    cgroups_enable_cfs: bool = typer.Option(
        False, "--cgroups-enable-cfs", help="Agents: hard CPU quota at each task's 'cpus'."
    ),
    isolation: str = typer.Option(
        "", "--isolation", help="Passed to every agent: 'network/private'."
    ),
    enforce_container_disk_quota: bool = typer.Option(
        False, "--enforce-container-disk-quota", help="Agents: kill containers over their disk."
    ),
    services: bool = typer.Option(
        True, "--services/--no-services", help="Start the services framework (Marathon API)."
    ),
    services_port: int = typer.Option(8080, "--services-port", help="The services API's port."),
    jobs: bool = typer.Option(
        True, "--jobs/--no-jobs", help="Start the jobs framework (Chronos API)."
    ),
    jobs_port: int = typer.Option(4400, "--jobs-port", help="The jobs API's port."),
    aurora: bool = typer.Option(
        True,
        "--aurora/--no-aurora",
        help="Start the Aurora-style front end (`corral job create|update`; needs services).",
    ),
    aurora_port: int = typer.Option(8081, "--aurora-port", help="The aurora front end's port."),
    spark: bool = typer.Option(
        False,
        "--spark/--no-spark",
        help="Also start the spark framework (Spark standalone, elastic workers; off by default).",
    ),
    spark_port: int = typer.Option(5070, "--spark-port", help="The spark framework's API port."),
    batch: bool = typer.Option(
        True, "--batch/--no-batch", help="Start the batch framework (`corral batch submit`)."
    ),
    batch_port: int = typer.Option(5090, "--batch-port", help="The batch framework's API port."),
    tls: bool = typer.Option(
        False,
        "--tls",
        help="Masters serve HTTPS with a certificate from a throwaway CA made in WORK_DIR/tls "
        "(agents, frameworks and the client commands trust it).",
    ),
) -> None:
    """Start a whole cluster on this machine (masters, agents, and the services and jobs
    frameworks); Ctrl-C stops it all."""
    from corral.agent.host import detect
    from corral.testing.cluster import LocalCluster

    if agents < 1:
        fail("--agents must be at least 1")
    if masters < 1:
        fail("--masters must be at least 1")
    up_agent_flags: list[str] = []
    if containerizers:
        names = [c.strip() for c in containerizers.split(",") if c.strip()]
        unknown = [n for n in names if n not in CONTAINERIZERS]
        if unknown or not names:
            known = ", ".join(CONTAINERIZERS)
            fail(f"--containerizers: expected a comma list of {known}; got {containerizers!r}")
        up_agent_flags += ["--containerizers", ",".join(names)]
    if cgroups_enable_cfs:
        up_agent_flags.append("--cgroups-enable-cfs")
    if isolation:
        bad = [i for i in isolation.split(",") if i.strip() not in ISOLATORS]
        if bad:
            fail(f"--isolation: unknown isolator {bad[0]!r} (known: {', '.join(ISOLATORS)})")
        up_agent_flags += ["--isolation", isolation]
    if enforce_container_disk_quota:
        up_agent_flags.append("--enforce-container-disk-quota")
    try:
        lock = WorkDirLock(work_dir).acquire()  # held until this process exits
    except DirectoryBusy as exc:
        fail(str(exc))
    if not resources:
        host = detect(str(work_dir))
        cpus = max(1.0, host.scalar("cpus") / agents)
        mem = max(256, int(host.scalar("mem") / agents))
        disk = max(1024, int(host.scalar("disk") / agents))
        per = 1000 // agents
        resources_list = [
            f"cpus:{cpus:g};mem:{mem};disk:{disk};"
            f"ports:[{31000 + i * per}-{31000 + (i + 1) * per - 1}]"
            for i in range(agents)
        ]
    else:
        resources_list = [resources]
    wanted_frameworks = [
        (name, flag, p)
        for name, flag, p, on in (
            ("services", "--services-port", services_port, services),
            ("jobs", "--jobs-port", jobs_port, jobs),
            ("aurora", "--aurora-port", aurora_port, aurora and services),
            ("spark", "--spark-port", spark_port, spark),
            ("batch", "--batch-port", batch_port, batch),
        )
        if on
    ]
    for flag, p in [("--port", port)] + [(flag, p) for _, flag, p in wanted_frameworks]:
        if port_in_use(p):
            fail(f"{flag} {p} is in use (is a cluster already up? choose another with {flag})")
    ensemble = None
    zk_url = None
    if masters > 1:
        from corral.testing.zookeeper import ZkEnsemble, zookeeper_available

        why = zookeeper_available()
        if why:
            fail(f"--masters {masters} needs ZooKeeper: {why}")
        ensemble = ZkEnsemble(3, work_dir=work_dir / "zookeeper")
        try:
            ensemble.start()
        except (RuntimeError, TimeoutError) as exc:
            fail(f"ZooKeeper did not start: {exc}", EXIT_RUNTIME)
        zk_url = ensemble.url("/corral")
    cluster = LocalCluster(
        agents,
        work_dir=work_dir,
        port=port,
        agent_resources=resources_list,
        masters=masters,
        zk=zk_url,
        zk_session_timeout=4.0,
        agent_flags=up_agent_flags,
        log_dirs=True,
        tls=local_tls(work_dir) if tls else None,
    )
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed
        signal.signal(sig, on_signal)
    try:
        cluster.start()
    except (RuntimeError, TimeoutError) as exc:
        if ensemble is not None:
            ensemble.stop()
        fail(f"cluster did not start: {exc}", EXIT_RUNTIME)
    for name, flag, p in wanted_frameworks:
        try:
            flags = ["--work-dir", str(work_dir / name)]
            if name == "aurora":  # a front end on the services and jobs frameworks' APIs
                flags += ["--services-url", f"http://127.0.0.1:{services_port}"]
                flags += ["--jobs-url", f"http://127.0.0.1:{jobs_port}"]
            if name == "spark":
                flags += ["--url-file", str(work_dir / "spark" / "spark_url")]
            command = "batch serve" if name == "batch" else name
            cluster.start_framework(command, p, flags, name=name, timeout=60)
        except (RuntimeError, TimeoutError) as exc:
            cluster.stop()
            if ensemble is not None:
                ensemble.stop()
            fail(f"the {name} framework did not start ({flag} {p}): {exc}", EXIT_RUNTIME)
    CLUSTER_FILE.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, object] = {
        "master": cluster.master_url,
        "pid": os.getpid(),
        "work_dir": str(work_dir),
    }
    for name, _, p in wanted_frameworks:  # `corral app|job|batch ...` find them there
        record[f"{name}_url"] = f"http://127.0.0.1:{p}"
    if cluster.tls is not None:
        record["tls_ca"] = str(cluster.tls[0])  # the client commands trust it (cli/common.py)
    CLUSTER_FILE.write_text(json.dumps(record))
    if zk_url:
        print(
            f"corral cluster up: {masters} masters (leader at {cluster.url}), ZooKeeper at {zk_url}"
        )
        print(f"  masters on ports {', '.join(str(p) for p in cluster.ports)}; {agents} agent(s)")
    else:
        print(f"corral cluster up: master at {cluster.url} with {agents} agent(s)")
    for name, _, p in wanted_frameworks:
        if name == "spark":
            print(
                f"  spark: status at http://127.0.0.1:{p}/v1/status; the spark:// URL, once "
                f"up, in {work_dir / 'spark' / 'spark_url'}"
            )
            continue
        if name == "batch":
            print(f"  batch: the queue's API at http://127.0.0.1:{p}/ (corral batch submit|queue)")
            continue
        what = {
            "services": "Marathon's /v2 API",
            "jobs": "Chronos's API",
            "aurora": "the Aurora-style front end's API (corral job create|update)",
        }[name]
        page = "" if name == "aurora" else "page and "
        print(f"  {name}: {page}{what} at http://127.0.0.1:{p}/")
    print(f"  logs in {work_dir / 'logs'} (corral logs --master; corral logs --agent ID)")
    print("  try: corral run -- echo hello")
    print("  Ctrl-C stops everything.", flush=True)
    try:
        watch(cluster, lambda: stop, work_dir)
    finally:
        print("stopping the cluster...", flush=True)
        cluster.stop()
        if ensemble is not None:
            ensemble.stop()
        try:
            if json.loads(CLUSTER_FILE.read_text()).get("pid") == os.getpid():
                CLUSTER_FILE.unlink()
        except (OSError, ValueError):
            pass
        logging.shutdown()
        lock.release()
        print("stopped.")
