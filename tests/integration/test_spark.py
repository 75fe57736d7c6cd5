"""The spark framework on a real cluster: a Spark standalone master as a corral task, no
worker at first; a pyspark word count submitted with spark-submit makes a worker appear,
gets the right counts, and once it ends the idle worker is removed. Every Spark JVM (the
master, the worker, its executor, the driver) is gone at the end."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from corral.testing import LocalCluster, free_port, http_json, stop_process, wait_until

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
TEXT = "the quick brown fox jumps over the lazy dog\nthe dog sleeps\n" * 50


def port_window(size: int = 50) -> str:
    """A window of ports below the ephemeral range that nothing listens on now: other test
    runs on this machine give their agents 31000-32000, and a Spark daemon must get the
    ports its offer names."""
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(20000, 30000 - size)
        try:
            for p in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return f"ports:[{base}-{base + size - 1}]"
    raise RuntimeError("no free window of ports between 20000 and 30000")


def spark_jvms() -> list[int]:
    """Spark JVMs of this test run (every process it starts carries CORRAL_TEST_RUN)."""
    mark = os.environ["CORRAL_TEST_RUN"]
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if "org.apache.spark" not in cmd:
            continue
        try:
            if p.environ().get("CORRAL_TEST_RUN") == mark:
                out.append(p.pid)
        except psutil.Error:
            pass
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)  # four JVMs start one after another; slower on a loaded machine
def test_wordcount_grows_workers_from_zero_and_removes_them(tmp_path: Path) -> None:
    import pyspark

    spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    text = tmp_path / "words.txt"
    text.write_text(TEXT)
    url_file = tmp_path / "spark_url"
    port = free_port()
    api = f"http://127.0.0.1:{port}"

    def status() -> dict[str, Any]:
        result: dict[str, Any] = http_json(api + "/v1/status")
        return result

    resources = "cpus:4;mem:4096;disk:10000;" + port_window()
    with LocalCluster(
        1, agent_resources=resources, agent_flags=["--status-update-retry", "1"]
    ) as cluster:
        fw = cluster.start_framework(
            "spark",
            port,
            [
                "--work-dir", str(tmp_path / "state"),
                "--max-workers", "2",
                "--idle-timeout", "3",
                "--poll-interval", "0.5",
                "--master-mem", "512",
                "--worker-mem", "1024",
                "--url-file", str(url_file),
            ],
            timeout=60,
        )  # fmt: skip
        driver: subprocess.Popen[str] | None = None
        try:
            wait_until(url_file.exists, 120, what=f"the Spark master's URL (log: {fw.log})")
            spark_url = url_file.read_text().strip()
            assert spark_url.startswith("spark://127.0.0.1:")
            assert status()["spark_url"] == spark_url
            assert status()["workers"] == []  # none until an application waits
            env = {
                **os.environ,
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
                "SPARK_LOCAL_IP": "127.0.0.1",
            }
            driver = subprocess.Popen(
                [
                    str(spark_submit),
                    "--master", spark_url,
                    "--driver-memory", "512m",
                    "--conf", "spark.ui.enabled=false",
                    str(HERE / "spark_wordcount.py"),
                    str(text),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                start_new_session=True,  # the driver JVM and its Python: one group to kill
            )  # fmt: skip

            def registered() -> bool:
                assert driver is not None
                if driver.poll() is not None:
                    return True  # done already: checked below
                return any(w["state"] == "registered" for w in status()["workers"])

            wait_until(registered, 120, what="a worker added and registered with Spark")
            out, err = driver.communicate(timeout=180)
            assert driver.returncode == 0, err[-3000:]
            line = next(x for x in out.splitlines() if x.startswith("COUNTS "))
            assert json.loads(line[len("COUNTS ") :]) == dict(collections.Counter(TEXT.split()))
            kinds = [d["kind"] for d in status()["decisions"]]
            assert "add" in kinds
            # The application ended: the idle worker goes, and Spark's master lists none.
            wait_until(lambda: status()["workers"] == [], 60, what="the idle worker removed")
            reasons = [d["reason"] for d in status()["decisions"] if d["kind"] == "remove"]
            assert any("idle for" in r for r in reasons), reasons
            ui = status()["master_ui"]
            wait_until(
                lambda: http_json(ui + "/json/")["aliveworkers"] == 0,
                30,
                what="no live worker at the Spark master",
            )
        finally:
            if driver is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(driver.pid, signal.SIGKILL)
                driver.communicate()
            stop_process(fw.popen)  # tears the framework down: its tasks are killed
        wait_until(lambda: not spark_jvms(), 30, what="every Spark JVM gone")
