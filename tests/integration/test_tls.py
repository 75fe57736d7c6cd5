"""TLS: a master and an agent serving HTTPS with certificates from a CA made here; an agent,
the SDK and the CLI that trust the CA talk to them; a client that does not is refused."""

from __future__ import annotations

import asyncio
import datetime
import getpass
import ipaddress
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from corral.scheduler_client.driver import Scheduler, SchedulerDriver
from corral.security.client import ClientSecurity
from corral.testing import LocalCluster, wait_until
from corral.wire.common import FrameworkInfo

pytestmark = pytest.mark.integration


def make_ca_and_cert(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA, and a certificate it signs for 127.0.0.1/localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corral test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = d / "ca.pem", d / "cert.pem", d / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return ca_path, cert_path, key_path


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
