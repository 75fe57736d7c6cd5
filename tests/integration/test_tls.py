"""TLS: a master and an agent serving HTTPS with certificates from a CA made here; an agent,
the SDK and the CLI that trust the CA talk to them; a client that does not is refused."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.scheduler_client.driver import Scheduler, SchedulerDriver
from corral.security.client import ClientSecurity
from corral.security.local_ca import make_ca_and_cert
from corral.testing import LocalCluster, wait_until
from corral.wire.common import FrameworkInfo

pytestmark = pytest.mark.integration




class TLSCluster:
    def __init__(self, cluster: LocalCluster, ca: Path) -> None:
        self.cluster = cluster
        self.ca = ca
        self.context = ssl.create_default_context(cafile=str(ca))

    @property
    def url(self) -> str:
        return f"https://{self.cluster.master}"

    def get(self, path: str) -> dict[str, object]:
        with urllib.request.urlopen(self.url + path, timeout=10, context=self.context) as r:
            result: dict[str, object] = json.loads(r.read())
            return result


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSCluster]:
    d = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_ca_and_cert(d)
    cluster = LocalCluster(agents=0, master_flags=["--tls-cert", str(cert), "--tls-key", str(key)])
    t = TLSCluster(cluster, ca)
    try:
        cluster.start_master_index(0, wait=False)
        wait_until(lambda: t.get("/version"), 20, what="the TLS master to answer")
        cluster.add_agent(
            wait=False,
            extra_flags=["--tls-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)],
        )
        wait_until(
            lambda: len(t.get("/master/slaves")["slaves"]) == 1,  # type: ignore[arg-type]
            30,
            what="the agent to register over TLS",
        )
        yield t
    finally:
        cluster.stop()


def test_a_client_without_the_ca_is_refused(tls: TLSCluster) -> None:
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(tls.url + "/version", timeout=10)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    # plain http to the TLS port does not get an answer either
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://{tls.cluster.master}/version", timeout=10)


def test_the_agent_serves_https_too(tls: TLSCluster) -> None:
    agent = tls.cluster.agents[0]
    url = f"https://127.0.0.1:{agent.port}/state"
    with urllib.request.urlopen(url, timeout=10, context=tls.context) as r:
        assert "id" in json.loads(r.read())
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=10)


async def test_a_framework_with_the_ca_subscribes(tls: TLSCluster) -> None:
    info = FrameworkInfo(user=getpass.getuser(), name="tls-sdk")
    driver = SchedulerDriver(
        tls.cluster.master, info, Scheduler(), security=ClientSecurity(tls_ca=str(tls.ca))
    )
    task = asyncio.get_running_loop().create_task(driver.run())
    try:
        await asyncio.wait_for(driver.connected.wait(), 20)
        assert driver.framework_id
    finally:
        await driver.stop()
        await asyncio.wait_for(task, 10)


def test_the_cli_with_the_ca_lists_agents_and_without_fails_clearly(tls: TLSCluster) -> None:
    env = {**os.environ, "CORRAL_TLS_CA": str(tls.ca), "CORRAL_MASTER": tls.cluster.master}
    ok = subprocess.run(
        [sys.executable, "-m", "corral", "agents"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "127.0.0.1" in ok.stdout
    del env["CORRAL_TLS_CA"]
    env["CORRAL_TLS"] = "1"  # https, but only the system's trust store: not our CA
    bad = subprocess.run(
        [sys.executable, "-m", "corral", "agents"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in bad.stderr or "certificate" in bad.stderr
