"""Authentication: the pure decision, the route classes, the credentials file."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from corral.security import credentials
from corral.security.authn import (
    AGENT,
    EXECUTOR,
    FRAMEWORK,
    OPERATOR,
    PUBLIC,
    READONLY,
    READWRITE,
    Allowed,
    AuthFlags,
    Denied,
    decide,
)
from corral.security.client import ClientSecurity
from corral.security.routes import classify

CREDS = {"alice": "s3cret", "bob": "hunter2"}
ALL = AuthFlags(frameworks=True, agents=True, http_readonly=True, http_readwrite=True)


def basic(principal: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{principal}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("cls", [FRAMEWORK, AGENT, READONLY, READWRITE, OPERATOR])
def test_protected_class_without_credentials_is_401_with_a_challenge(cls: str) -> None:
    d = decide(cls, {}, CREDS, ALL)
    assert isinstance(d, Denied) and d.status == 401
    assert d.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert "requires authentication" in d.reason


def test_right_basic_credentials_give_the_principal() -> None:
    assert decide(FRAMEWORK, basic("alice", "s3cret"), CREDS, ALL) == Allowed("alice")


@pytest.mark.parametrize(
    "headers",
    [
        basic("alice", "wrong"),
        basic("mallory", "s3cret"),
        basic("alice", ""),
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
        {"Authorization": "Digest abc"},
        {"Authorization": "Bearer nope"},
    ],
)
def test_wrong_credentials_are_401_and_never_echo_a_secret(headers: dict[str, str]) -> None:
    d = decide(READONLY, headers, CREDS, ALL)
    assert isinstance(d, Denied) and d.status == 401
    assert "s3cret" not in d.reason and "wrong" not in d.reason


def test_wrong_credentials_are_refused_even_where_none_are_required() -> None:
    d = decide(READONLY, basic("alice", "wrong"), CREDS, AuthFlags())
    assert isinstance(d, Denied)


def test_bearer_token_is_a_principals_secret() -> None:
    assert decide(READWRITE, {"Authorization": "Bearer hunter2"}, CREDS, ALL) == Allowed("bob")


def test_off_by_default_and_anonymous() -> None:
    for cls in (FRAMEWORK, AGENT, READONLY, READWRITE, OPERATOR, PUBLIC, EXECUTOR):
        assert decide(cls, {}, {}, AuthFlags()) == Allowed(None)
    # without credentials configured, a header is ignored (as Mesos without authenticator)
    assert decide(READONLY, basic("x", "y"), {}, AuthFlags()) == Allowed(None)


def test_each_flag_protects_only_its_class() -> None:
    only_fw = AuthFlags(frameworks=True)
    assert isinstance(decide(FRAMEWORK, {}, CREDS, only_fw), Denied)
    for cls in (AGENT, READONLY, READWRITE, OPERATOR):
        assert decide(cls, {}, CREDS, only_fw) == Allowed(None)
    ro = AuthFlags(http_readonly=True)
    assert isinstance(decide(READONLY, {}, CREDS, ro), Denied)
    assert isinstance(decide(OPERATOR, {}, CREDS, ro), Denied)
    assert decide(READWRITE, {}, CREDS, ro) == Allowed(None)
    rw = AuthFlags(http_readwrite=True)
    assert isinstance(decide(READWRITE, {}, CREDS, rw), Denied)
    assert decide(READONLY, {}, CREDS, rw) == Allowed(None)
    assert decide(PUBLIC, {}, CREDS, ALL) == Allowed(None)


@pytest.mark.parametrize(
    ("method", "path", "cls"),
    [
        ("GET", "/health", PUBLIC),
        ("GET", "/master/health", PUBLIC),
        ("GET", "/master/redirect", PUBLIC),
        ("POST", "/api/v1/scheduler", FRAMEWORK),
        ("POST", "/master/api/v1/scheduler", FRAMEWORK),
        ("GET", "/master/agent", AGENT),
        ("POST", "/api/v1", OPERATOR),
        ("POST", "/master/api/v1/operator", OPERATOR),
        ("GET", "/master/state", READONLY),
        ("GET", "/metrics/snapshot", READONLY),
        ("GET", "/files/read", READONLY),
        ("GET", "/ui/", READONLY),
        ("GET", "/", READONLY),
        ("POST", "/logging/toggle", READWRITE),
        ("POST", "/anything/new", READWRITE),
        ("DELETE", "/master/state", READWRITE),
        ("POST", "/api/v1/executor", EXECUTOR),
    ],
)
def test_routes_are_classified_once(method: str, path: str, cls: str) -> None:
    assert classify(method, path) == cls


# ------------------------------------------------------------------ credentials file
def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_credentials_file_loads(tmp_path: Path) -> None:
    p = write(
        tmp_path / "c.json",
        '{"credentials": [{"principal": "a", "secret": "x"}, {"principal": "b", "secret": "y"}]}',
    )
    assert credentials.load(p) == {"a": "x", "b": "y"}


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_credentials_readable_by_others_are_refused(tmp_path: Path, mode: int) -> None:
    p = write(tmp_path / "c.json", '{"credentials": []}', mode)
    with pytest.raises(credentials.CredentialsError) as e:
        credentials.load(p)
    assert str(p) in str(e.value) and f"{mode:04o}" in str(e.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"credentials": [{"secret": "x"}]}', "principal"),
        ('{"credentials": [{"principal": 3, "secret": "x"}]}', "$.credentials[0].principal"),
        ('{"credentials": {"principal": "a"}}', "$.credentials"),
        ('{"creds": []}', "creds"),
        ('{"credentials": [{"principal": "", "secret": "x"}]}', "$.credentials[0].principal"),
        (
            '{"credentials": [{"principal": "a", "secret": "x"}, {"principal": "a"}]}',
            "$.credentials[1].principal",
        ),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_credentials_files_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    p = write(tmp_path / "c.json", text)
    with pytest.raises(credentials.CredentialsError) as e:
        credentials.load(p)
    assert field in str(e.value) and str(p) in str(e.value)


def test_missing_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(credentials.CredentialsError, match="cannot read"):
        credentials.load(tmp_path / "nope.json")


def test_own_credential_in_either_format(tmp_path: Path) -> None:
    one = write(tmp_path / "one.json", '{"principal": "agent", "secret": "k"}')
    assert credentials.load_one(one) == credentials.Credential("agent", "k")
    listed = write(tmp_path / "l.json", '{"credentials": [{"principal": "agent", "secret": "k"}]}')
    assert credentials.load_one(listed) == credentials.Credential("agent", "k")
    two = write(
        tmp_path / "two.json",
        '{"credentials": [{"principal": "a", "secret": "k"}, {"principal": "b", "secret": "k"}]}',
    )
    with pytest.raises(credentials.CredentialsError, match="exactly one"):
        credentials.load_one(two)


def test_client_security_headers_and_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_PRINCIPAL", "alice")
    monkeypatch.setenv("CORRAL_SECRET", "s3cret")
    monkeypatch.delenv("CORRAL_TLS_CA", raising=False)
    sec = ClientSecurity.from_env()
    assert decide(FRAMEWORK, sec.headers(), CREDS, ALL) == Allowed("alice")
    assert sec.url("h:1", "/x") == "http://h:1/x"
    assert "s3cret" not in repr(sec)
    assert ClientSecurity(tls_ca="/ca.pem").url("h:1", "/x") == "https://h:1/x"
    assert ClientSecurity().headers() == {}
