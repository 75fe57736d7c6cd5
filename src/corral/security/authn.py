"""Who is calling, and may they: one pure decision for every HTTP route of the master and
the agent (``decide``). Basic (``principal:secret``) and bearer tokens (a principal's secret
as the token) are checked against the credentials, in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

# Route classes (``routes.classify`` names each route one of these).
PUBLIC = "public"  # /health, /redirect: never authenticated (as Mesos)
FRAMEWORK = "framework"  # the scheduler API
AGENT = "agent"  # the agent's link to the master
READONLY = "readonly"  # GET reads
READWRITE = "readwrite"  # operator writes, and anything not classified
EXECUTOR = "executor"  # the agent's executor API (executors' own tokens: not here)
OPERATOR = "operator"  # the v1 operator API: a read or a write, known from the call
ROUTE_CLASSES = (PUBLIC, FRAMEWORK, AGENT, READONLY, READWRITE, EXECUTOR, OPERATOR)

REALM = "corral"


@dataclass(frozen=True, slots=True)
class AuthFlags:
    """Which route classes require authentication (Mesos's ``--authenticate-*`` flags)."""

    frameworks: bool = False
    agents: bool = False
    http_readonly: bool = False
    http_readwrite: bool = False

    def required(self, route_class: str) -> bool:
        if route_class == FRAMEWORK:
            return self.frameworks
        if route_class == AGENT:
            return self.agents
        if route_class == READONLY:
            return self.http_readonly
        if route_class == OPERATOR:  # the calls that write check again (``READWRITE``)
            return self.http_readonly
        if route_class in (PUBLIC, EXECUTOR):
            return False
        return self.http_readwrite

    @property
    def any(self) -> bool:
        return self.frameworks or self.agents or self.http_readonly or self.http_readwrite


@dataclass(frozen=True, slots=True)
class Allowed:
    principal: str | None  # None: anonymous (no credentials sent, none required)


@dataclass(frozen=True, slots=True)
class Denied:
    status: int
    reason: str  # the body: Mesos's style, never a secret
    headers: dict[str, str] = field(default_factory=dict)


Decision = Allowed | Denied


def challenge(reason: str) -> Denied:
    return Denied(
        401,
        reason,
        {"WWW-Authenticate": f'Basic realm="{REALM}", Bearer realm="{REALM}"'},
    )


def identify(authorization: str, credentials: Mapping[str, str]) -> str | Denied | None:
    """The principal an ``Authorization`` header proves, or ``Denied`` (None: no header)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return challenge("Malformed 'Authorization' header: Basic credentials not base64")
        principal, sep, secret = decoded.partition(":")
        if not sep:
            return challenge("Malformed 'Authorization' header: expected 'principal:secret'")
        known = credentials.get(principal)
        # Compare against something even for an unknown principal: no timing oracle.
        if not hmac.compare_digest((known or "\0").encode(), secret.encode()) or known is None:
            return challenge("Authentication failed: invalid principal or secret")
        return principal
    if scheme == "bearer":
        found: str | None = None
        for principal, secret in credentials.items():
            if secret and hmac.compare_digest(secret.encode(), value.encode()):
                found = principal
        if found is None:
            return challenge("Authentication failed: invalid bearer token")
        return found
    return challenge(f"Unsupported authentication scheme '{scheme}': use Basic or Bearer")


def decide(
    route_class: str,
    headers: Mapping[str, str],
    credentials: Mapping[str, str],
    flags: AuthFlags,
) -> Decision:
    """Allow (with the caller's principal) or refuse one request.

    Credentials sent are always checked (wrong ones are a 401 even where none are needed);
    a route whose class the flags protect needs them. Without credentials configured the
    header is ignored (as Mesos without an authenticator)."""
    required = flags.required(route_class)
    if not credentials and not required:
        return Allowed(None)
    who = identify(headers.get("Authorization", ""), credentials)
    if isinstance(who, Denied):
        return who
    if who is None and required:
        return challenge("Unauthorized: this endpoint requires authentication")
    return Allowed(who)
