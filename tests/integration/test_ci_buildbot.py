"""Buildbot for real: a Buildbot 4.3 master whose only workers are CorralLatentWorkers runs
builds on agents that the ci framework makes, and the agents are gone afterwards."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_harness import BIN, CiProcess, force_builds, start_buildbot, stop

from corral.testing import LocalCluster, free_port, wait_until

pytestmark = pytest.mark.integration

TEMPLATES = """\
[[template]]
name = "bb"
labels = ["buildbot"]
cpus = 0.2
mem = 128
max = {max}
provision-delay = 0
idle-termination = 0
command = '''buildbot-worker create-worker --umask=0o22 w $BUILDMASTER:$BUILDMASTER_PORT \\
  $WORKERNAME $WORKERPASS && exec buildbot-worker start --nodaemon w'''
env = {{ PATH = "{bin}:/usr/local/bin:/usr/bin:/bin" }}
"""

MASTER_CFG = """\
from buildbot.plugins import schedulers, steps, util
from corral.frameworks.ci.buildbot import CorralLatentWorker

c = BuildmasterConfig = {{}}
c["workers"] = [
    CorralLatentWorker(f"w{{i}}", f"pw{{i}}", ci_url="{ci_url}", template="bb",
                       masterFQDN="127.0.0.1", build_wait_timeout=0,
                       missing_timeout=60, check_instance_interval=1)
    for i in range({workers})
]
c["protocols"] = {{"pb": {{"port": "tcp:{pb}:interface=127.0.0.1"}}}}
c["collapseRequests"] = False
f = util.BuildFactory([steps.ShellCommand(command="echo building on $WORKERNAME && sleep 1",
                                          env={{"WORKERNAME": util.Property("workername")}})])
c["builders"] = [util.BuilderConfig(name="b", workernames=[f"w{{i}}" for i in range({workers})],
                                    factory=f)]
c["schedulers"] = [schedulers.ForceScheduler(name="force", builderNames=["b"])]
c["www"] = {{"port": "tcp:{www}:interface=127.0.0.1", "plugins": {{}}}}
c["db"] = {{"db_url": "sqlite:///state.sqlite"}}
c["buildbotNetUsageData"] = None
c["title"] = "corral-ci-test"
c["buildbotURL"] = "http://127.0.0.1:{www}/"
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(1, agent_flags=["--status-update-retry", "1"]) as c:
        yield c


def run_builds(cluster: LocalCluster, tmp: Path, builds: int) -> None:
    ci = CiProcess(cluster, tmp, TEMPLATES.format(max=builds, bin=BIN))
    pb, www = free_port(), free_port()
    master_dir = tmp / "bbmaster"
    buildbot = [f"{BIN}/buildbot"]
    subprocess.run(
        [*buildbot, "create-master", "-q", str(master_dir)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (master_dir / "master.cfg").write_text(
        MASTER_CFG.format(ci_url=ci.url, workers=builds, pb=pb, www=www)
    )
    api = f"http://127.0.0.1:{www}/api/v2"
    bb: subprocess.Popen[bytes] | None = None
    try:
        ci.start()
        assert ci.get("/v1/status")["registered"] is False  # on demand: nothing needed yet
        bb = start_buildbot(master_dir, api, tmp / "buildbot.log")
        finished = force_builds(api, builds, timeout=90)
        assert [b["results"] for b in finished] == [0] * builds, finished  # SUCCESS
        workers = {b["workerid"] for b in finished}
        assert len(workers) == builds  # one agent per starving build: all ran at once
        created = [d for d in ci.get("/v1/decisions") if d["kind"] == "create"]
        assert sorted(d["agent"] for d in created) == [f"w{i}" for i in range(builds)]
        tasks = [
            t
            for t in cluster.state()["frameworks"] + cluster.state().get("completed_frameworks", [])
            for t in t.get("tasks", []) + t.get("completed_tasks", [])
        ]
        assert len([t for t in tasks if t["name"].startswith("w")]) >= builds
        # build_wait_timeout=0: each worker is stopped after its build, its agent removed,
        # and then the framework unregisters (nothing needed or held).
        wait_until(lambda: ci.get("/v1/agents") == [], 30, what="the agents to be removed")
        wait_until(lambda: not ci.get("/v1/status")["registered"], 30, what="unregistering")

        def no_tasks() -> bool:
            return not any(f.get("tasks") for f in cluster.state()["frameworks"])

        wait_until(no_tasks, 30, what="no agent task left at the master")
        removed = [d for d in ci.get("/v1/decisions") if d["kind"] == "remove"]
        assert len(removed) >= builds
    finally:
        stop(bb)
        ci.stop()


def test_buildbot_builds_run_on_corral_agents(cluster: LocalCluster, tmp_path: Path) -> None:
    run_builds(cluster, tmp_path, 2)


def test_buildbot_four_builds_at_once(cluster: LocalCluster, tmp_path: Path) -> None:
    run_builds(cluster, tmp_path, 4)
