"""The security flags ``corral master`` and ``corral agent`` share (typer option defaults)."""

from __future__ import annotations

from pathlib import Path

import typer

from corral.security.settings import SecuritySettings

AUTH_FRAMEWORKS = typer.Option(
    False, "--authenticate-frameworks", help="Frameworks must authenticate to subscribe."
)
AUTH_AGENTS = typer.Option(
    False, "--authenticate-agents", help="Agents must authenticate to register."
)
AUTH_READONLY = typer.Option(
    False, "--authenticate-http-readonly", help="Authenticate the read-only HTTP endpoints."
)
AUTH_READWRITE = typer.Option(
    False,
    "--authenticate-http-readwrite",
    help="Authenticate the HTTP endpoints that change state.",
)
CREDENTIALS = typer.Option(
    None,
    "--credentials",
    help='Mesos JSON credentials file {"credentials": [{"principal", "secret"}]} (mode 600).',
)
ACLS = typer.Option(None, "--acls", help="ACL file (JSON or TOML, see docs/security.md).")
TLS_CERT = typer.Option(None, "--tls-cert", help="PEM certificate (chain): serve HTTPS.")
TLS_KEY = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert.")
TLS_CA = typer.Option(None, "--tls-ca", help="PEM CA file to verify the master (HTTPS).")
CREDENTIAL = typer.Option(
    None, "--credential", help="This agent's own credential for the master (JSON, mode 600)."
)
NO_PATH: Path | None = None


def api_security(readonly: bool, readwrite: bool, credentials: Path | None) -> SecuritySettings:
    """A built-in framework's API authentication from its flags (a bad flag: exit 2)."""
    from corral.cli.common import fail
    from corral.security.options import SecurityFlagError, build

    try:
        return build(
            authenticate_http_readonly=readonly,
            authenticate_http_readwrite=readwrite,
            credentials=credentials,
        )
    except SecurityFlagError as exc:
        fail(str(exc))
