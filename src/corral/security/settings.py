"""A daemon's security configuration, plain data (part of the master's config: the core
reads the ACLs and whether frameworks must authenticate)."""

from __future__ import annotations

from dataclasses import dataclass, field

from corral.security.acls import ACLs
from corral.security.authn import AuthFlags


@dataclass(frozen=True)
class SecuritySettings:
    flags: AuthFlags = field(default_factory=AuthFlags)
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    acls: ACLs | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


OPEN = SecuritySettings()


def master_flags_off(s: SecuritySettings) -> list[str]:
    """The master's authentication flags that are off (for the non-loopback warning)."""
    f = s.flags
    pairs = (
        ("--authenticate-frameworks", f.frameworks),
        ("--authenticate-agents", f.agents),
        ("--authenticate-http-readonly", f.http_readonly),
        ("--authenticate-http-readwrite", f.http_readwrite),
    )
    return [name for name, on in pairs if not on]


def agent_flags_off(s: SecuritySettings) -> list[str]:
    f = s.flags
    pairs = (
        ("--authenticate-http-readonly", f.http_readonly),
        ("--authenticate-http-readwrite", f.http_readwrite),
    )
    return [name for name, on in pairs if not on]
