"""Executor tokens: each custom executor proves to its agent which executor it is
(``--authenticate-http-executors``, as in Mesos).

The agent gives every custom executor it launches a token in its environment,
``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``; the executor sends it on each executor API call as
``Authorization: Bearer <token>``. A token is an HMAC-SHA256, under the agent's secret key,
of the framework id, executor id and container id it was made for (Mesos signs the same
claims into a JWT), so the agent keeps no table of tokens: the key (32 bytes from
``secrets``, in ``<work_dir>/meta/executor_secret.key``, mode 0600) is its whole checkpoint,
and executors launched before an agent restart keep working after it. A task cannot speak for
another task's executor: it would need that executor's token, which only that executor's
environment holds.

``token_for`` and ``check`` are pure; ``load_key`` reads or makes the key file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_NAME = "executor_secret.key"
REALM = "mesos-agent-executor"  # Mesos's realm for the executor API


def token_for(key: bytes, framework_id: str, executor_id: str, container_id: str) -> str:
    """The token of the executor ``executor_id`` of ``framework_id`` in ``container_id``."""
    claims = "\n".join((framework_id, executor_id, container_id)).encode()
    return hmac.new(key, claims, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ExecutorTokens:
    """The tokens of one agent's executors (its key)."""

    key: bytes

    def of(self, framework_id: str, executor_id: str, container_id: str) -> str:
        return token_for(self.key, framework_id, executor_id, container_id)


@dataclass(frozen=True)
class Refusal:
    """Why an executor API call is refused: its HTTP status and a message."""

    status: int  # 401: no (usable) credentials; 403: credentials for someone else
    message: str

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer realm="{REALM}"'} if self.status == 401 else {}


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None without one."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check(authorization: str | None, expected: str | None, claimed: str) -> Refusal | None:
    """None when the call may go on: its bearer token is ``expected``, the token of the
    executor it claims to be (``claimed`` names it; ``expected`` is None when no such
    executor runs here). Else why not."""
    token = bearer(authorization)
    if token is None:
        return Refusal(
            401,
            "The executor API needs 'Authorization: Bearer <token>' (the "
            "executor's MESOS_EXECUTOR_AUTHENTICATION_TOKEN)",
        )
    if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        return Refusal(403, f"The token is not that of {claimed}")
    return None


def load_key(meta_dir: Path) -> bytes:
    """The agent's executor secret key, made (32 random bytes) on first use."""
    path = meta_dir / KEY_NAME
    with contextlib.suppress(FileNotFoundError):
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    meta_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return key
