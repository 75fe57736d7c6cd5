"""From a daemon's security flags to its ``SecuritySettings`` (each file loaded and checked
now, so a bad one stops the daemon at start with a message naming the flag)."""

from __future__ import annotations

from pathlib import Path

from corral.security import acls as acl_file
from corral.security import credentials as cred_file
from corral.security.authn import AuthFlags
from corral.security.settings import SecuritySettings
from corral.security.tls import TLSError, server_context


class SecurityFlagError(ValueError):
    """A security flag that cannot be used: the message names the flag."""


def build(
    *,
    authenticate_frameworks: bool = False,
    authenticate_agents: bool = False,
    authenticate_http_readonly: bool = False,
    authenticate_http_readwrite: bool = False,
    credentials: Path | None = None,
    acls: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> SecuritySettings:
    flags = AuthFlags(
        frameworks=authenticate_frameworks,
        agents=authenticate_agents,
        http_readonly=authenticate_http_readonly,
        http_readwrite=authenticate_http_readwrite,
    )
    creds: dict[str, str] = {}
    if credentials is not None:
        try:
            creds = cred_file.load(credentials)
        except cred_file.CredentialsError as exc:
            raise SecurityFlagError(f"--credentials: {exc}") from None
    elif flags.any:
        raise SecurityFlagError(
            "--authenticate-* needs --credentials FILE (the principals and secrets to accept)"
        )
    parsed_acls = None
    if acls is not None:
        try:
            parsed_acls = acl_file.load(acls)
        except acl_file.ACLError as exc:
            raise SecurityFlagError(f"--acls: {exc}") from None
    if (tls_cert is None) != (tls_key is None):
        raise SecurityFlagError("--tls-cert and --tls-key go together")
    if tls_cert is not None and tls_key is not None:
        try:
            server_context(str(tls_cert), str(tls_key))
        except TLSError as exc:
            raise SecurityFlagError(f"--tls-cert/--tls-key: {exc}") from None
    return SecuritySettings(
        flags=flags,
        credentials=creds,
        acls=parsed_acls,
        tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None,
    )


def own_credential(path: Path | None) -> tuple[str | None, str | None]:
    """An agent's ``--credential``: (principal, secret), or (None, None)."""
    if path is None:
        return None, None
    try:
        c = cred_file.load_one(path)
    except cred_file.CredentialsError as exc:
        raise SecurityFlagError(f"--credential: {exc}") from None
    return c.principal, c.secret
