"""The jobs framework's page (headless Chromium) and `corral job` against a real cluster and a
real `corral jobs` process, shared by the module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import browser_page
from corral.testing import LocalCluster, free_port, stop_process, wait_until

pytestmark = pytest.mark.integration


class Jobs:
    """One `corral jobs` process on a free port; stopped by pid."""

    def __init__(self, master: str, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "jobs.log"
        work.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [
                    sys.executable, "-m", "corral", "jobs",
                    "--master", master,
                    "--port", str(self.port),
                    "--work-dir", str(work / "state"),
                    "--lease-ttl", "1.5",
                ],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, (json.loads(raw) if raw else None)

    def up(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"corral jobs exited; see {self.log}:\n{self.log.read_text()}")
        return self.call("GET", "/v1/scheduler/jobs")[0] == 200

    def runs(self, job: str) -> list[dict[str, Any]]:
        status, body = self.call("GET", f"/v1/runs?job={job}&limit=50")
        assert status == 200, body
        return list(body["runs"])

    def stop(self) -> None:
        stop_process(self.popen, grace=15)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    work = tmp_path_factory.mktemp("jobs-ui")
    with LocalCluster(1, agent_flags=["--status-update-retry", "1"]) as cluster:
        proc = Jobs(cluster.master, work)
        try:
            wait_until(proc.up, 30, what=f"corral jobs to serve its API (log: {proc.log})")
            yield proc
        finally:
            proc.stop()


SMALL = {"cpus": 0.1, "mem": 32, "owner": ""}
LATER = "R/2030-01-01T00:00:00Z/P1D"  # never due during the test: runs are manual


# ====================================================================== the page
@pytest.mark.browser
def test_page_jobs_graph_run_history_disable(jobs: Jobs) -> None:
    # one job through the API, the rest of the chain through the page's form and JSON box
    status, body = jobs.call(
        "POST", "/v1/scheduler/iso8601",
        {"name": "extract", "command": "echo extracted", "schedule": LATER, **SMALL},
    )  # fmt: skip
    assert status == 204, body
    with browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(jobs.url + "/")
        page.wait_for_selector("#jobs tr[data-job=extract]")

        form = page.locator("#add-form")
        form.locator("input[name=name]").fill("transform")
        form.locator("input[name=command]").fill("echo transformed")
        form.locator("input[name=parents]").fill("extract")
        form.locator("input[name=cpus]").fill("0.1")
        form.locator("input[name=mem]").fill("32")
        page.click("#add-submit")
        page.wait_for_selector("#jobs tr[data-job=transform]")

        page.click("#tab-json")
        page.fill(
            "#job-json",
            json.dumps({"name": "load", "command": "exit 3", "parents": ["transform"],
                        "retries": 0, **SMALL}),
        )  # fmt: skip
        page.click("#add-json-submit")
        page.wait_for_selector("#jobs tr[data-job=load]")

        # the chain as a graph: three nodes, edges parent -> child
        page.wait_for_function("document.querySelectorAll('#graph g.node').length === 3")
        edges = page.eval_on_selector_all(
            "#graph path.edge", "es => es.map(e => [e.dataset.from, e.dataset.to]).sort()"
        )
        assert edges == [["extract", "transform"], ["transform", "load"]]
        assert page.locator("#graph g.node.fresh").count() == 3

        # run now: the run appears in the history with its result; the chain follows it,
        # and the last job's failure colours its node
        page.locator("#jobs tr[data-job=extract] button.run").click()
        page.wait_for_selector("#graph g.node.success[data-job=extract]", timeout=20_000)
        page.locator("#jobs tr[data-job=extract] button.show-history").click()
        row = page.wait_for_selector("#history tbody tr[data-job=extract][data-result=succeeded]")
        assert row.get_attribute("data-kind") == "manual"
        run = next(x for x in jobs.runs("extract") if x["id"] == row.get_attribute("data-run"))
        if run.get("logs"):  # the API's log route: a link to it
            assert row.query_selector("td.logs a") is not None
        else:  # else where the output is
            assert run["sandbox"]["path"] in (row.query_selector("td.logs").text_content() or "")
        page.wait_for_selector("#graph g.node.failure[data-job=load]", timeout=20_000)
        page.locator("#jobs tr[data-job=load] button.show-history").click()
        failed = page.wait_for_selector("#history tbody tr[data-job=load][data-result=failed]")
        text = failed.text_content() or ""
        assert "exit status 3" in text or "status 3" in text, text

        # disable: the API says so, and the page shows it
        page.locator("#jobs tr[data-job=transform] button.toggle").click()
        page.wait_for_selector("#graph g.node.disabled[data-job=transform]")
        assert jobs.call("GET", "/v1/scheduler/job/transform")[1]["disabled"] is True
        assert page.text_content("#jobs tr[data-job=transform] button.toggle") == "enable"

        # the API's error message is shown to the user
        page.click("#tab-form")
        form.locator("input[name=name]").fill("orphan")
        form.locator("input[name=command]").fill("true")
        form.locator("input[name=parents]").fill("no-such-parent")
        page.click("#add-submit")
        page.wait_for_selector("#error:not([hidden])")
        assert "no-such-parent" in (page.text_content("#error-text") or "")
        assert jobs.call("GET", "/v1/scheduler/job/orphan")[0] == 404
        assert not errors, errors


# ====================================================================== the CLI
def cli(jobs: Jobs, *args: str, url: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("CORRAL_JOBS_URL", None)
    flags = ["--url", jobs.url] if url else []
    return subprocess.run(
        [sys.executable, "-m", "corral", "job", *args, *flags],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_cli_add_list_run_history_show_rm(jobs: Jobs, tmp_path: Path) -> None:
    chain = tmp_path / "chain.toml"
    # children before parents in the file: the CLI adds parents first
    chain.write_text(
        f"""
[[jobs]]
name = "cli-report"
command = "echo report"
parents = ["cli-fetch"]
cpus = 0.1
mem = 32

[[jobs]]
name = "cli-fetch"
command = "echo fetched"
schedule = "{LATER}"
schedule_time_zone = "Europe/Paris"
cpus = 0.1
mem = 32
"""
    )
    r = cli(jobs, "add", str(chain))
    assert r.returncode == 0, r.stderr
    assert r.stdout.index("cli-fetch") < r.stdout.index("cli-report")

    r = cli(jobs, "list")
    assert r.returncode == 0, r.stderr
    assert "cli-fetch" in r.stdout and "after cli-fetch" in r.stdout
    assert "Europe/Paris" in r.stdout
    r = cli(jobs, "list", "--json", "--name", "cli-")
    assert {j["name"] for j in json.loads(r.stdout)} == {"cli-fetch", "cli-report"}

    r = cli(jobs, "run", "cli-fetch", "--wait", "--timeout", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "succeeded" in r.stdout
    wait_until(
        lambda: any(x["state"] == "succeeded" for x in jobs.runs("cli-report")),
        20, what="the dependent job to run after its parent",
    )  # fmt: skip
    r = cli(jobs, "history", "cli-report", "--json")
    runs = json.loads(r.stdout)
    assert runs[0]["kind"] == "dependency" and runs[0]["state"] == "succeeded"
    r = cli(jobs, "history", "cli-fetch")
    assert r.returncode == 0 and "manual" in r.stdout and "succeeded" in r.stdout

    r = cli(jobs, "show", "cli-fetch")
    assert r.returncode == 0 and "Europe/Paris" in r.stdout and "success" in r.stdout

    r = cli(jobs, "rm", "cli-report")
    assert r.returncode == 0, r.stderr
    assert jobs.call("GET", "/v1/scheduler/job/cli-report")[0] == 404


def test_cli_failure_and_errors(jobs: Jobs, tmp_path: Path) -> None:
    bad = tmp_path / "fails.json"
    bad.write_text(json.dumps({"name": "cli-fails", "command": "exit 7", "retries": 0,
                               "schedule": LATER, **SMALL}))  # fmt: skip
    assert cli(jobs, "add", str(bad)).returncode == 0
    r = cli(jobs, "run", "cli-fails", "--wait", "--timeout", "30")
    assert r.returncode == 1 and "failed" in r.stdout and "status 7" in r.stdout, r.stdout

    # the API's message, exit 1
    r = cli(jobs, "show", "no-such-job")
    assert r.returncode == 1 and "no job named 'no-such-job'" in r.stderr
    r = cli(jobs, "run", "no-such-job")
    assert r.returncode == 1 and "no-such-job" in r.stderr
    cycle = tmp_path / "orphan.json"
    cycle.write_text(json.dumps({"name": "cli-orphan", "command": "true", "parents": ["nope"]}))
    r = cli(jobs, "add", str(cycle))
    assert r.returncode == 1 and "nope" in r.stderr and "Traceback" not in r.stderr

    # bad files and flags: exit 2 naming the file or the flag
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ")
    r = cli(jobs, "add", str(broken))
    assert r.returncode == 2 and "broken.toml" in r.stderr and "Traceback" not in r.stderr
    r = cli(jobs, "add", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "missing.json" in r.stderr
    r = cli(jobs, "history", "cli-fails", "--limit", "0")
    assert r.returncode == 2 and "--limit" in r.stderr

    # nobody listening: exit 69, saying where it looked and how to point elsewhere
    env = {**os.environ, "CORRAL_JOBS_URL": f"http://127.0.0.1:{free_port()}"}
    r = subprocess.run([sys.executable, "-m", "corral", "job", "list"],
                       env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 69 and "CORRAL_JOBS_URL" in r.stderr
