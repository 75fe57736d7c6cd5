"""Bad flags get a message naming the flag and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    (["master", "--zk", "zk://nohost/x", "--quorum", "2"], "--zk"),
    (["master", "--zk", "zk://127.0.0.1:1/corral"], "--quorum"),
    (["master", "--quorum", "2"], "--quorum"),
    (["master", "--weights", "prod=abc"], "--weights"),
    (["master", "--port", "70000"], "--port"),
    (["agent", "--resources", "cpus:lots"], "--resources"),
    (["agent", "--attributes", "rack"], "--attributes"),
    (["agent", "--master", "nowhere"], "--master"),
    (["agent", "--recover", "sometimes"], "--recover"),
    (["agent", "--containerizers", "lxc"], "--containerizers"),
    (["agent", "--isolation", "network/public"], "--isolation"),
    (["agent", "--disk-watch-interval", "0"], "--disk-watch-interval"),
    (["agent", "--usage-report-interval", "-1"], "--usage-report-interval"),
    (["agent", "--images-dir", "/nonexistent/images"], "--images-dir"),
    (["agent", "--docker-socket", "ftp://x"], "--docker-socket"),
    (
        ["run", "--docker-image", "busybox", "--docker-network", "BOGUS", "--", "true"],
        "--docker-network",
    ),
    (["run", "--count", "0", "--", "true"], "--count"),
    (["run", "--env", "NOEQUALS", "--", "true"], "--env"),
    (["up", "--agents", "0"], "--agents"),
    (["batch", "submit", "--array", "10-1%2", "--", "true"], "--array"),
    (["batch", "submit", "--array", "1-10%0", "--", "true"], "--array"),
    (["batch", "submit", "--cpus", "0", "--", "true"], "--cpus"),
    (["batch", "submit", "--env", "NOEQUALS", "--", "true"], "--env"),
    (["batch", "submit", "--tier", "gold", "--", "true"], "--tier"),
    (["batch", "serve", "--port", "70000"], "--port"),
]


@pytest.mark.parametrize(("args", "flag"), CASES)
def test_bad_flag_is_named(args: list[str], flag: str, tmp_path: object) -> None:
    extra = ["--work-dir", str(tmp_path)] if args[0] in ("master", "agent") else []
    proc = subprocess.run(
        [sys.executable, "-m", "corral", *args[:1], *extra, *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert flag in proc.stderr
    assert "Traceback" not in proc.stderr
