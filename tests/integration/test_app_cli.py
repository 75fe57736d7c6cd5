"""`corral app` against a real cluster and a real `corral services`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from services_proc import cli_env, remove_all_apps, services_process

from corral.testing import LocalCluster

pytestmark = pytest.mark.integration

WEB_TOML = """
id = "/cli/web"
cmd = "sleep 300"
cpus = 0.1
mem = 16
instances = 2

[[healthChecks]]
protocol = "COMMAND"
command = { value = "true" }
gracePeriodSeconds = 5
intervalSeconds = 1
timeoutSeconds = 2
delaySeconds = 0
"""


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("app-cli")
    with (
        LocalCluster(
            1,
            work_dir=tmp / "cluster",
            agent_resources="cpus:2;mem:2048;disk:1000;ports:[31000-31100]",
        ) as c,
        services_process(c, tmp / "services") as url,
    ):
        yield url


@pytest.fixture(autouse=True)
def no_app_left(services: str) -> Iterator[None]:
    yield
    remove_all_apps(services)


def corral_app(url: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral", "app", *args, "--url", url],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
    )


def test_deploy_wait_list_show_scale_why_rm(services: str, tmp_path: Path) -> None:
    web = tmp_path / "web.toml"
    web.write_text(WEB_TOML)
    r = corral_app(services, "deploy", str(web), "--wait", "--timeout", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "succeeded" in r.stdout

    r = corral_app(services, "list")
    assert r.returncode == 0, r.stderr
    assert "/cli/web" in r.stdout and "2/2" in r.stdout

    r = corral_app(services, "show", "cli/web", "--json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert [t["state"] for t in shown["tasks"]] == ["TASK_RUNNING"] * 2
    r = corral_app(services, "show", "/cli/web")
    assert "healthy" in r.stdout and "TASK_RUNNING" in r.stdout

    r = corral_app(services, "scale", "/cli/web", "3", "--wait", "--timeout", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    r = corral_app(services, "show", "/cli/web", "--json")
    assert sum(t["state"] == "TASK_RUNNING" for t in json.loads(r.stdout)["tasks"]) == 3

    # An app no agent can hold: --wait gives up after --timeout with exit 3 and says why.
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"id": "/cli/big", "cmd": "sleep 300", "cpus": 64, "mem": 16}))
    r = corral_app(services, "deploy", str(big), "--wait", "--timeout", "3")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "waiting:" in r.stderr and "no reason is known" not in r.stderr
    r = corral_app(services, "why", "/cli/big")
    assert r.returncode == 0, r.stderr
    assert "0/1 instances running" in r.stdout and "  - " in r.stdout

    # A change to an app with a deployment in the way: 409 names it.
    r = corral_app(services, "scale", "/cli/big", "2")
    assert r.returncode == 1 and "deployment(s) in the way" in r.stderr, r.stderr

    r = corral_app(services, "rm", "/cli/big", "--force", "--wait", "--timeout", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    r = corral_app(services, "rm", "/cli/web", "--wait", "--timeout", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    r = corral_app(services, "show", "/cli/web")
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_a_bad_field_exits_non_zero_naming_it(services: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "/cli/bad", "cmd": "sleep 1", "cpus": "lots"}))
    r = corral_app(services, "deploy", str(bad))
    assert r.returncode == 2
    assert "/cpus" in r.stderr, r.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("id = ")
    r = corral_app(services, "deploy", str(broken))
    assert r.returncode == 2 and "broken.toml" in r.stderr, r.stderr


def test_an_unreachable_url_is_named() -> None:
    r = corral_app("http://127.0.0.1:9", "list")
    assert r.returncode == 1 and "cannot reach http://127.0.0.1:9" in r.stderr
