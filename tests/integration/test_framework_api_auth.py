"""The built-in frameworks' own APIs can require authentication: the same flags and
credentials file as the master (`--authenticate-http-readonly/readwrite`, `--credentials`),
HTTP Basic or a bearer token; `/ping` stays open; the CLIs send CORRAL_PRINCIPAL/SECRET."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from corral.testing import LocalCluster, free_port, wait_until

pytestmark = pytest.mark.integration


def call(url: str, method: str = "GET", body: object = None, auth: str | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def basic(principal: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()


def test_services_and_jobs_apis_require_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"credentials": [{"principal": "ops", "secret": "s3cret"}]}))
    creds.chmod(0o600)
    with LocalCluster(1) as cluster:
        sp, jp = free_port(), free_port()
        cluster.start_framework(
            "services", sp, ["--work-dir", str(tmp_path / "s"), "--authenticate-http-readwrite",
                             "--credentials", str(creds)],
        )  # fmt: skip
        cluster.start_framework(
            "jobs", jp, ["--work-dir", str(tmp_path / "j"), "--authenticate-http-readonly",
                         "--authenticate-http-readwrite", "--credentials", str(creds)],
        )  # fmt: skip
        s, j = f"http://127.0.0.1:{sp}", f"http://127.0.0.1:{jp}"
        ops = basic("ops", "s3cret")
        wait_until(lambda: call(f"{s}/v2/info") == 200, 30, what="services up")
        app = {"id": "/a", "cmd": "sleep 60", "cpus": 0.1, "mem": 32, "instances": 0}
        assert call(f"{s}/v2/apps", "POST", app) == 401
        assert call(f"{s}/v2/apps", "POST", app, basic("ops", "wrong")) == 401
        assert call(f"{s}/v2/apps", "GET") == 200  # reads stay open without readonly auth
        assert call(f"{s}/v2/apps/a") == 404  # nothing was created by the refused calls
        assert call(f"{s}/v2/apps", "POST", app, ops) == 201
        assert call(f"{s}/ping") == 200
        assert call(f"{j}/scheduler/jobs") == 401
        wait_until(lambda: call(f"{j}/scheduler/jobs", auth="Bearer s3cret") == 200, 30,
                   what="jobs leading, and a bearer token accepted")  # fmt: skip
        assert call(f"{j}/ping") == 200
        env = {**os.environ, "CORRAL_PRINCIPAL": "ops", "CORRAL_SECRET": "s3cret"}
        r = subprocess.run(
            [sys.executable, "-m", "corral", "app", "list", "--url", s, "--json"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert r.returncode == 0 and '"/a"' in r.stdout, r.stderr
        r = subprocess.run(
            [sys.executable, "-m", "corral", "job", "list", "--url", j, "--json"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        r = subprocess.run(
            [sys.executable, "-m", "corral", "job", "list", "--url", j],
            capture_output=True, text=True, timeout=60,
            env={k: v for k, v in env.items() if k not in ("CORRAL_PRINCIPAL", "CORRAL_SECRET")},
        )  # fmt: skip
        assert r.returncode == 1 and "401" in r.stderr


def test_a_bad_credentials_flag_is_named(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "corral", "jobs", "--master", "127.0.0.1:1",
         "--authenticate-http-readonly", "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "--credentials" in r.stderr
