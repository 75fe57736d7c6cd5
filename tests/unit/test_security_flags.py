"""The security flags of ``corral master``/``corral agent``: bad files stop the daemon at
start with a message naming the flag and the file; the non-loopback warning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli.main import app
from corral.security.middleware import warn_if_open
from corral.security.settings import SecuritySettings, master_flags_off


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_credentials_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text('{"credentials": [{"principal": "a", "secret": "s"}]}')
    os.chmod(creds, 0o644)
    code, out = run(
        "master", "--work-dir", str(tmp_path), "--authenticate-frameworks",
        "--credentials", str(creds),
    )  # fmt: skip
    assert code == 2
    assert "--credentials" in out and str(creds) in out and "0644" in out
    assert "Traceback" not in out


def test_authentication_without_credentials_is_refused(tmp_path: Path) -> None:
    code, out = run("master", "--work-dir", str(tmp_path), "--authenticate-agents")
    assert code == 2 and "--credentials" in out


def test_a_bad_acl_file_names_the_flag_and_field(tmp_path: Path) -> None:
    acls = tmp_path / "acls.json"
    acls.write_text('{"run_tasks": [{"principals": {"values": "a"}}]}')
    code, out = run("master", "--work-dir", str(tmp_path), "--acls", str(acls))
    assert code == 2 and "--acls" in out and "principals.values" in out


def test_tls_cert_without_key_is_refused(tmp_path: Path) -> None:
    code, out = run("master", "--work-dir", str(tmp_path), "--tls-cert", str(tmp_path / "c"))
    assert code == 2 and "--tls-key" in out


def test_agent_credential_mode_is_checked(tmp_path: Path) -> None:
    own = tmp_path / "own.json"
    own.write_text('{"principal": "agent", "secret": "s"}')
    os.chmod(own, 0o640)
    code, out = run(
        "agent", "--work-dir", str(tmp_path), "--containerizers", "process",
        "--credential", str(own),
    )  # fmt: skip
    assert code == 2 and "--credential" in out and "0640" in out


def test_non_loopback_without_authentication_warns_loudly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    warn_if_open("master", "127.0.0.1", master_flags_off(SecuritySettings()))
    assert capsys.readouterr().out == ""
    warn_if_open("master", "0.0.0.0", master_flags_off(SecuritySettings()))
    out = capsys.readouterr().out
    assert out.startswith("WARNING") and "--authenticate-frameworks" in out and "0.0.0.0" in out


def test_a_bad_tls_ca_names_the_flag(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    code, out = run(
        "agent", "--work-dir", str(tmp_path), "--containerizers", "process",
        "--tls-ca", str(bad),
    )  # fmt: skip
    assert code == 2 and "--tls-ca" in out and str(bad) in out and "Traceback" not in out
