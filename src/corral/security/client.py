"""What a client sends: credentials (Basic) and the CA that verifies a TLS master.

The SDK, the CLI and the agent take a ``ClientSecurity``; ``from_env`` reads
``CORRAL_PRINCIPAL``, ``CORRAL_SECRET``, ``CORRAL_TLS_CA`` (a CA file: talk https) and
``CORRAL_TLS=1`` (https verified by the system's trust store)."""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field

import aiohttp

from corral.security.tls import client_context

ENV_PRINCIPAL = "CORRAL_PRINCIPAL"
ENV_SECRET = "CORRAL_SECRET"
ENV_CA = "CORRAL_TLS_CA"
ENV_TLS = "CORRAL_TLS"  # "1": https, verified by the system's trust store (or CORRAL_TLS_CA)


@dataclass(frozen=True)
class ClientSecurity:
    principal: str | None = None
    secret: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls: bool = False  # https even without a CA file (the system's trust store)

    @classmethod
    def from_env(cls) -> ClientSecurity:
        ca = os.environ.get(ENV_CA) or None
        return cls(
            principal=os.environ.get(ENV_PRINCIPAL) or None,
            secret=os.environ.get(ENV_SECRET),
            tls_ca=ca,
            tls=ca is not None or os.environ.get(ENV_TLS, "") not in ("", "0"),
        )

    @property
    def scheme(self) -> str:
        return "https" if self.tls or self.tls_ca else "http"

    @property
    def ws_scheme(self) -> str:
        return "wss" if self.scheme == "https" else "ws"

    def url(self, address: str, path: str) -> str:
        return f"{self.scheme}://{address}{path}"

    def headers(self) -> dict[str, str]:
        if self.principal is None:
            return {}
        token = base64.b64encode(f"{self.principal}:{self.secret or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def session(self, timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientSession:
        """An aiohttp client sending these credentials, verifying against the CA."""
        return aiohttp.ClientSession(
            timeout=timeout or aiohttp.ClientTimeout(total=30),
            connector=aiohttp.TCPConnector(ssl=self.ssl_context()),
            headers=self.headers(),
        )

    def ssl_context(self) -> ssl.SSLContext | bool:
        """For aiohttp's ``ssl=``: a context verifying against the CA, or True (defaults)."""
        if self.scheme != "https":
            return True
        return client_context(self.tls_ca)
