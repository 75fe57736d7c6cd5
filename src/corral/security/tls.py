"""TLS contexts: a server's (``--tls-cert``/``--tls-key``) and a client's that verifies the
master against ``--tls-ca`` (or the system's trust store)."""

from __future__ import annotations

import ssl


class TLSError(ValueError):
    """A certificate, key or CA that cannot be loaded (the message names the file)."""


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the certificate {cert} with the key {key}: {exc}") from None
    return ctx


def client_context(ca: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the CA certificates {ca}: {exc}") from None
