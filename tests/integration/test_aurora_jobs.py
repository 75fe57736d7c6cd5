"""Aurora-style jobs on a real cluster: `corral aurora` on a real `corral services` (and
`corral jobs`), driven by the `corral job create|status|update|killall` CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from services_proc import cli_env, services_process

from corral.testing import LocalCluster, free_port, wait_until

pytestmark = pytest.mark.integration

SPEC = """\
command = "python3 -m http.server $PORT0"
instances = 2
ports = ["http"]
max_task_failures = -1
tier = "preemptible"
priority = 5
env = {{ VERSION = "{version}" }}

[resources]
cpus = 0.1
mem = 64

[health_check]
type = "http"
path = "{path}"
initial_interval_secs = 1
interval_secs = 1
timeout_secs = 1
max_consecutive_failures = 2

[update]
batch_size = 1
watch_secs = {watch}
instance_timeout_secs = 60
"""


@dataclass
class Env:
    cluster: LocalCluster
    services: str
    aurora: str
    work_dir: Path
    jobs: str
    proc: subprocess.Popen[bytes] | None = None


def start_aurora(env: Env, port: int) -> None:
    argv = [
        sys.executable, "-m", "corral", "aurora",
        "--master", env.cluster.master_url,
        "--port", str(port),
        "--services-url", env.services,
        "--jobs-url", env.jobs,
        "--work-dir", str(env.work_dir),
        "--poll-interval", "0.3",
    ]  # fmt: skip
    with open(env.work_dir / "aurora.log", "ab") as log:
        env.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    proc = env.proc

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"corral aurora exited; see {env.work_dir / 'aurora.log'}")
        return _ping(env.aurora)

    wait_until(up, 60, what="corral aurora answering")


def _ping(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/ping", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def stop_aurora(env: Env) -> None:
    proc = env.proc
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def cluster_and_services(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalCluster, str, str]]:
    tmp = tmp_path_factory.mktemp("aurora")
    low = random.randrange(40000, 59000, 200)  # host ports other test runs are unlikely to use
    with (
        LocalCluster(
            1,
            work_dir=tmp / "cluster",
            agent_resources=f"cpus:2;mem:2048;disk:1000;ports:[{low}-{low + 199}]",
        ) as c,
        services_process(c, tmp / "services") as services,
    ):
        jobs_port = free_port()
        c.start_framework("jobs", jobs_port, ["--work-dir", str(tmp / "jobs")])
        yield c, services, f"http://127.0.0.1:{jobs_port}"


@pytest.fixture
def env(cluster_and_services: tuple[LocalCluster, str, str], tmp_path: Path) -> Iterator[Env]:
    """A `corral aurora` of the test's own (its state under tmp_path)."""
    cluster, services, jobs = cluster_and_services
    port = free_port()
    e = Env(cluster, services, f"http://127.0.0.1:{port}", tmp_path / "aurora", jobs)
    e.work_dir.mkdir()
    start_aurora(e, port)
    try:
        yield e
    finally:
        stop_aurora(e)


def job(env: Env, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral", "job", *args, "--url", env.aurora],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
    )


def status(env: Env, key: str) -> dict[str, object]:
    r = job(env, "status", key, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    result: dict[str, object] = json.loads(r.stdout)
    return result


def all_healthy_at(env: Env, key: str, version: str, n: int) -> bool:
    rows = status(env, key)["instances"]
    assert isinstance(rows, list)
    return len(rows) == n and all(r["healthy"] and r["version"] == version for r in rows)


def write(tmp: Path, name: str, **fields: object) -> Path:
    path = tmp / name
    path.write_text(SPEC.format(**{"version": "1", "path": "/", "watch": 2, **fields}))
    return path


def test_usage_errors_exit_2_and_name_the_field_and_line(env: Env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('command = "x"\n\n[resources]\ncpus = "many"\n')
    r = job(env, "create", "web/devel/bad", str(bad))
    assert r.returncode == 2
    assert f"{bad}:4: resources.cpus: expected `float`, got `str`" in r.stderr
    r = job(env, "create", "web/prod/bad", str(write(tmp_path, "ok.toml")))
    assert r.returncode == 2 and "env 'prod'" in r.stderr
    r = job(env, "status", "web/devel/nothing")
    assert r.returncode == 1 and "no job web/devel/nothing" in r.stderr
    r = job(env, "update", "info", "web/devel/nothing")
    assert r.returncode == 1 and "no job web/devel/nothing" in r.stderr


def test_a_cron_job_goes_to_the_jobs_framework(env: Env, tmp_path: Path) -> None:
    cron = tmp_path / "cron.toml"
    cron.write_text('command = "true"\ncron_schedule = "0 2 * * *"\nmax_task_failures = 3\n')
    r = job(env, "create", "ops/devel/nightly", str(cron))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cron job on the jobs framework" in r.stdout
    chronos = get_json(f"{env.jobs}/v1/scheduler/job/ops.devel.nightly")
    assert chronos["schedule"] == "0 2 * * *" and chronos["retries"] == 2
    shown = status(env, "ops/devel/nightly")
    assert shown["kind"] == "cron"
    assert job(env, "create", "ops/devel/nightly", str(cron)).returncode == 1  # exists
    assert job(env, "killall", "ops/devel/nightly").returncode == 0
    names = [j["name"] for j in get_json(f"{env.jobs}/v1/scheduler/jobs")]
    assert "ops.devel.nightly" not in names


def test_an_instance_failing_max_task_failures_times_is_stopped(env: Env, tmp_path: Path) -> None:
    key = "web/devel/crashy"
    spec = tmp_path / "crashy.toml"
    spec.write_text(
        'command = "exit 3"\nmax_task_failures = 2\n[resources]\ncpus = 0.1\nmem = 16\n'
    )
    r = job(env, "create", key, str(spec))
    assert r.returncode == 0, r.stdout + r.stderr

    def stopped() -> bool:
        rows = status(env, key)["instances"]
        assert isinstance(rows, list)
        return [row["state"] for row in rows] == ["FAILED"]

    wait_until(stopped, 60, what="the instance stopped after 2 failures")
    rows = status(env, key)["instances"]
    assert isinstance(rows, list)
    assert rows[0]["failures"] == 2 and "status 3" in str(rows[0]["last_failure"])
    app = get_json(f"{env.services}/v2/apps/aurora/web/devel/crashy/0")["app"]
    assert app["instances"] == 0
    assert job(env, "killall", key).returncode == 0


def get_json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_a_failing_update_rolls_back_by_itself_and_survives_a_restart(
    env: Env, tmp_path: Path
) -> None:
    key = "web/devel/hello"
    v1 = write(tmp_path, "v1.toml")
    r = job(env, "create", key, str(v1))
    assert r.returncode == 0, r.stdout + r.stderr
    first = status(env, key)["version"]
    assert isinstance(first, str)
    wait_until(lambda: all_healthy_at(env, key, first, 2), 60, what="v1 healthy")

    # the tier and priority reach the tasks as labels (through the services framework)
    wanted = {"corral.tier": "preemptible", "corral.priority": "5"}
    assert all(wanted.items() <= labels.items() for labels in task_labels(env)), task_labels(env)

    # v2 serves 404 on its health check path: instance 0 fails, the update rolls back
    v2 = write(tmp_path, "v2.toml", version="2", path="/missing")
    r = job(env, "update", "start", key, str(v2), "--wait", "--timeout", "120")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "rolled_back" in r.stdout
    info = json.loads(job(env, "update", "info", key, "--json").stdout)
    events = [e["event"] for e in info["log"]]
    assert any("instance 0 failed" in e for e in events), events
    assert info["status"] == "rolled_back"
    wait_until(lambda: all_healthy_at(env, key, first, 2), 60, what="v1 healthy again")

    # a good v3, paused at once; the front end restarts; the update resumes and ends
    v3 = write(tmp_path, "v3.toml", version="3", watch=1)
    r = job(env, "update", "start", key, str(v3))
    assert r.returncode == 0, r.stdout + r.stderr
    r = job(env, "update", "pause", key)
    assert r.returncode == 0 and "roll_forward_paused" in r.stdout, r.stdout + r.stderr
    assert job(env, "update", "pause", key).returncode == 1  # already paused
    stop_aurora(env)
    start_aurora(env, int(env.aurora.rsplit(":", 1)[1]))
    info = json.loads(job(env, "update", "info", key, "--json").stdout)
    assert info["status"] == "roll_forward_paused"
    assert job(env, "update", "resume", key).returncode == 0
    ended = ("rolled_forward", "rolled_back", "aborted", "failed")

    def update_status() -> str:
        return str(json.loads(job(env, "update", "info", key, "--json").stdout)["status"])

    wait_until(lambda: update_status() in ended, 90, what="the v3 update to end")
    r = job(env, "update", "info", key)
    assert update_status() == "rolled_forward", r.stdout
    assert "the front end restarted" in r.stdout and "resumed" in r.stdout
    third = status(env, key)["version"]
    assert third != first
    wait_until(lambda: all_healthy_at(env, key, str(third), 2), 60, what="v3 healthy")

    r = job(env, "killall", key)
    assert r.returncode == 0, r.stderr
    assert job(env, "status", key).returncode == 1
    wait_until(lambda: not apps_of(env, "/aurora/web/devel/hello/"), 60, what="apps deleted")


def apps_of(env: Env, prefix: str) -> list[str]:
    import urllib.request

    with urllib.request.urlopen(f"{env.services}/v2/apps", timeout=5) as r:
        return [a["id"] for a in json.loads(r.read())["apps"] if a["id"].startswith(prefix)]


def task_labels(env: Env) -> list[dict[str, str]]:
    """The labels of the master's running tasks of the job."""
    import urllib.request

    with urllib.request.urlopen(f"http://{env.cluster.master_url}/master/tasks", timeout=5) as r:
        tasks = json.loads(r.read())["tasks"]
    out = []
    for t in tasks:
        if t.get("state") == "TASK_RUNNING" and "hello" in t.get("id", ""):
            labels = t.get("labels") or []
            if isinstance(labels, dict):
                labels = labels.get("labels", [])
            out.append({lab["key"]: lab.get("value", "") for lab in labels})
    assert out, "no running task of the job at the master"
    return out
