"""The batch framework on a real cluster: a job array of 100 and a higher-priority array
behind a blocker on a 1-cpu agent (every index runs exactly once, the higher priority starts
first, the %P limit holds), a restart of the framework in the middle of an array (nothing
finished runs again, nothing queued is lost), cancel, and the CLI's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.testing import LocalCluster, free_port, http_json, stop_process, wait_until

pytestmark = pytest.mark.integration


class Batch:
    def __init__(self, cluster: LocalCluster, work: Path, name: str = "batch") -> None:
        self.cluster = cluster
        self.work = work
        self.name = name
        self.starts = 0
        self.proc = self.start()

    def start(self) -> Any:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts += 1
        proc = self.cluster.start_framework(
            "batch serve",
            self.port,
            ["--work-dir", str(self.work / "state")],
            name=f"{self.name}-{self.starts}",
        )

        def ready() -> bool:  # /ping answers at once; the queue once the store is read
            try:
                http_json(self.url + "/v1/jobs")
                return True
            except OSError:
                return False

        wait_until(ready, 30, what=f"the batch queue readable (log: {proc.log})")
        return proc

    def stop(self) -> None:
        stop_process(self.proc.popen)

    def restart(self, hard: bool = False) -> None:
        """SIGTERM (a clean stop), or SIGKILL (``hard``: the next one waits out the lease)."""
        if hard and self.proc.popen is not None:
            self.proc.popen.kill()
            self.proc.popen.wait(10)
        self.stop()
        self.proc = self.start()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-m", "corral", "batch", *args[:1], "--url", self.url, *args[1:]],
            capture_output=True, text=True, timeout=60, env={**os.environ},
        )  # fmt: skip
        if check:
            assert r.returncode == 0, r.stderr + r.stdout
        return r

    def submit(self, *args: str) -> str:
        return self.cli("submit", *args).stdout.strip()

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = http_json(f"{self.url}/v1/jobs/{job_id}")
        return result

    def wait_state(self, job_id: str, state: str, timeout: float = 60) -> dict[str, Any]:
        wait_until(
            lambda: self.job(job_id)["state"] == state,
            timeout,
            what=f"job {job_id} {state} (log: {self.proc.log})",
        )
        return self.job(job_id)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    work = tmp_path_factory.mktemp("batch")
    with LocalCluster(
        1, agent_resources="cpus:1;mem:2048;disk:1000", agent_flags=["--status-update-retry", "1"]
    ) as cluster:
        yield Batch(cluster, work)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = best = 0
    for _, step in points:  # an end at the same instant as a start counts first
        now += step
        best = max(best, now)
    return best


@pytest.mark.timeout(150)
def test_array_of_100_with_priorities_and_a_limit(batch: Batch, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    blocker = batch.submit(
        "--name", "blocker", "--priority", "100", "--cpus", "1", "--mem", "32", "--",
        f"while [ ! -e {go} ]; do sleep 0.05; done",
    )  # fmt: skip
    batch.wait_state(blocker, "RUNNING")
    line = f'echo "$CORRAL_JOB_ID $CORRAL_ARRAY_INDEX" >> {tmp_path}/'
    low = batch.submit(
        "--name", "low", "--array", "1-100%5", "--cpus", "0.1", "--mem", "16", "--",
        line + "low.txt",
    )  # fmt: skip
    high = batch.submit(
        "--name", "high", "--array", "1-20", "--priority", "10", "--cpus", "0.1", "--mem", "16",
        "--", line + "high.txt",
    )  # fmt: skip
    queue = json.loads(batch.cli("queue", "--json").stdout)
    assert [j["id"] for j in queue][:3] == [blocker, high, low]  # by priority
    by_id = {j["id"]: j for j in queue}
    assert by_id[low]["queued"] == 100 and by_id[low]["array"] == "1-100%5"
    assert by_id[high]["state"] == "QUEUED" and by_id[high]["priority"] == 10
    go.touch()
    batch.wait_state(blocker, "DONE")
    hi = batch.wait_state(high, "DONE", 60)
    lo = batch.wait_state(low, "DONE", 90)
    # Every index ran exactly once, with its job's id.
    lines = (tmp_path / "low.txt").read_text().split("\n")[:-1]
    assert sorted(lines, key=lambda s: int(s.split()[1])) == [f"{low} {i}" for i in range(1, 101)]
    lines = (tmp_path / "high.txt").read_text().split("\n")[:-1]
    assert sorted(lines, key=lambda s: int(s.split()[1])) == [f"{high} {i}" for i in range(1, 21)]
    assert (lo["done"], lo["failed"], lo["queued"], lo["running"]) == (100, 0, 0, 0)
    for e in lo["element_list"] + hi["element_list"]:
        assert e["attempts"] == 1 and e["exit_code"] == 0 and e["task_state"] == "TASK_FINISHED"
        assert (
            e["hostname"] and e["agent_id"] and f"/executors/{e['task_id']}/runs/" in e["sandbox"]
        )
    # The higher priority job's elements all started before any of the lower one's.
    hi_starts = [e["started_at"] for e in hi["element_list"]]
    lo_spans = [(e["started_at"], e["ended_at"]) for e in lo["element_list"]]
    assert min(s for s, _ in lo_spans) >= max(hi_starts)
    # At most 5 of the low array ran at once (and it did run several at once).
    assert 1 < max_overlap(lo_spans) <= 5
    # The human view says the same.
    text = batch.cli("queue").stdout
    assert "low" in text and "1-100%5" in text and "DONE" in text
    shown = batch.cli("show", low).stdout
    assert "done 100" in shown and "TASK_FINISHED" not in shown


@pytest.mark.timeout(150)
def test_a_restart_neither_reruns_nor_loses_elements(batch: Batch, tmp_path: Path) -> None:
    own = Batch(batch.cluster, tmp_path, name="batch-restarted")  # its own store
    try:
        restarted(own, tmp_path)
    except BaseException:
        for n in range(1, own.starts + 1):  # both instances' logs, for the reader
            log = own.cluster.work_dir / "logs" / f"batch-restarted-{n}.log"
            print(f"---- {log}\n" + log.read_text()[-6000:])
        raise
    finally:
        own.stop()


def restarted(batch: Batch, tmp_path: Path) -> None:
    out = tmp_path / "c.txt"
    job = batch.submit(
        "--array", "1-30%3", "--cpus", "0.1", "--mem", "16", "--",
        f"echo $CORRAL_ARRAY_INDEX >> {out}; sleep 0.3",
    )  # fmt: skip
    before: dict[int, str] = {}
    for hard, at in ((False, 4), (True, 12)):  # a clean stop, then kill -9
        wait_until(lambda at=at: batch.job(job)["done"] >= at, 60, what=f"{at} elements done")
        before |= {
            e["index"]: e["task_id"] for e in batch.job(job)["element_list"] if e["state"] == "DONE"
        }
        batch.restart(hard=hard)
        mid = batch.job(job)
        assert mid["done"] < 30, "the array ended before the restart: nothing was tested"
        assert all(before[e["index"]] == e["task_id"] for e in mid["element_list"]
                   if e["index"] in before)  # fmt: skip
    wait_until(lambda: batch.job(job)["state"] == "DONE", 90, what=f"job {job} done after restarts")
    after = batch.job(job)
    assert sorted(int(x) for x in out.read_text().split()) == list(range(1, 31))
    for e in after["element_list"]:
        # One try that ran; a launch a kill -9 cut off before the master got it comes back
        # lost (never ran) and is launched again, which the output above confirms.
        ran = [a for a in e["history"] if not a["lost"]]
        assert len(ran) == 1 and ran[0]["task_state"] == "TASK_FINISHED", e["history"]
        if e["index"] in before:
            assert e["task_id"] == before[e["index"]]
    # The jobs of before the restart are still there.
    assert len(json.loads(batch.cli("queue", "--json").stdout)) >= 1


@pytest.mark.timeout(90)
def test_cancel_kills_running_and_drops_queued(batch: Batch) -> None:
    job = batch.submit("--array", "1-4%2", "--cpus", "0.1", "--mem", "16", "--", "sleep", "60")
    wait_until(lambda: batch.job(job)["running"] == 2, 30, what="two elements running")
    r = batch.cli("cancel", job)
    assert "cancelled" in r.stdout
    j = batch.wait_state(job, "CANCELLED", 30)
    assert j["cancelled"] == 4 and j["running"] == 0
    states = {e["task_state"] for e in j["element_list"] if e.get("task_state")}
    assert states == {"TASK_KILLED"}


def test_bad_usage_names_the_flag_or_field(batch: Batch) -> None:
    r = batch.cli("submit", "--array", "1-x%2", "--", "true", check=False)
    assert r.returncode == 2 and "--array '1-x%2'" in r.stderr
    r = batch.cli("submit", "--tier", "gold", "--", "true", check=False)
    assert r.returncode == 2 and "--tier" in r.stderr
    r = batch.cli("show", "99999", check=False)
    assert r.returncode == 1 and "no job '99999'" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "corral", "batch", "queue", "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1 and "cannot reach the batch framework" in r.stderr
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        batch.url + "/v1/jobs",
        data=json.dumps({"command": "true", "priority": "high"}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 422 and "priority" in err.value.read().decode()
