"""Buildbot's own MarathonLatentWorker, unchanged, against the services framework.

A second path to elastic build agents, independent of the ci framework: a real Buildbot 4.3
master whose only workers are ``buildbot.worker.marathon.MarathonLatentWorker``s pointed at
``corral services``. Buildbot POSTs a Marathon app per build and DELETEs it afterwards. No
Docker registry is reachable here, so the app's container is switched to MESOS with a
command through the worker's own ``marathon_extra_config`` (deep-merged into the app by
Buildbot): the worker runs as a plain process on a corral agent and connects back.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_harness import BIN, force_builds, start_buildbot, stop
from services_api_proc import ServicesProc

from corral.testing import LocalCluster, free_port, http_json, wait_until

pytestmark = pytest.mark.integration

MASTER_CFG = """\
from buildbot.plugins import schedulers, steps, util
from buildbot.worker.marathon import MarathonLatentWorker

extra = {{
    "container": {{"type": "MESOS", "docker": None}},
    "cmd": "buildbot-worker create-worker --umask=0o22 w $BUILDMASTER:$BUILDMASTER_PORT "
           "$WORKERNAME $WORKERPASS && exec buildbot-worker start --nodaemon w",
    "cpus": 0.2, "mem": 128,
    "env": {{"PATH": "{bin}:/usr/local/bin:/usr/bin:/bin"}},
}}
c = BuildmasterConfig = {{}}
c["workers"] = [
    MarathonLatentWorker(f"m{{i}}", password=f"pw{{i}}", marathon_url="{services}",
                         image="unused",
                         marathon_extra_config=extra, masterFQDN="127.0.0.1",
                         missing_timeout=60, check_instance_interval=1)
    for i in range({workers})
]
c["protocols"] = {{"pb": {{"port": "tcp:{pb}:interface=127.0.0.1"}}}}
c["collapseRequests"] = False
f = util.BuildFactory([steps.ShellCommand(command="echo building && sleep 1")])
c["builders"] = [util.BuilderConfig(name="b", workernames=[f"m{{i}}" for i in range({workers})],
                                    factory=f)]
c["schedulers"] = [schedulers.ForceScheduler(name="force", builderNames=["b"])]
c["www"] = {{"port": "tcp:{www}:interface=127.0.0.1", "plugins": {{}}}}
c["db"] = {{"db_url": "sqlite:///state.sqlite"}}
c["buildbotNetUsageData"] = None
c["buildbotURL"] = "http://127.0.0.1:{www}/"
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(1, agent_flags=["--status-update-retry", "1"]) as c:
        yield c


def test_marathon_latent_workers_run_builds_on_the_services_framework(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    builds = 2
    svc = ServicesProc(cluster.master, tmp_path / "services", tmp_path / "services.log")
    pb, www = free_port(), free_port()
    master_dir = tmp_path / "bbmaster"
    subprocess.run(
        [f"{BIN}/buildbot", "create-master", "-q", str(master_dir)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (master_dir / "master.cfg").write_text(
        MASTER_CFG.format(services=svc.url, workers=builds, pb=pb, www=www, bin=BIN)
    )
    api = f"http://127.0.0.1:{www}/api/v2"
    bb = None
    try:
        wait_until(svc.leading, 30, what="corral services to lead")
        bb = start_buildbot(master_dir, api, tmp_path / "bb.log")
        finished = force_builds(api, builds, timeout=120)
        assert [b["results"] for b in finished] == [0] * builds, finished  # SUCCESS
        assert len({b["workerid"] for b in finished}) == builds
        # The apps Buildbot made were real tasks of the services framework, ...
        state = cluster.state()
        ran = [
            t
            for f in state["frameworks"] + state.get("completed_frameworks", [])
            if f["name"] == "services"
            for t in f.get("tasks", []) + f.get("completed_tasks", [])
        ]
        assert len([t for t in ran if t["id"].startswith("buildbot-worker_")]) >= builds
        # ... and build_wait_timeout=0: each app is deleted after its build.
        wait_until(
            lambda: http_json(f"{svc.url}/v2/apps")["apps"] == [], 60, what="the apps deleted"
        )

        def no_tasks() -> bool:
            return not any(
                f.get("tasks") for f in cluster.state()["frameworks"] if f["name"] == "services"
            )

        wait_until(no_tasks, 30, what="the workers' tasks to end")
    finally:
        stop(bb)
        svc.stop()
