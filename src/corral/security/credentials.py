"""The credentials file, in Mesos's JSON format: ``{"credentials": [{"principal": "a",
"secret": "s"}]}``. Refused when group or others may read it (it holds secrets)."""

from __future__ import annotations

import stat
from pathlib import Path

import msgspec


class CredentialsError(ValueError):
    """A credentials file that cannot be used: the message names the file and why."""


class Credential(msgspec.Struct, forbid_unknown_fields=True):
    principal: str
    secret: str = ""


class CredentialsFile(msgspec.Struct, forbid_unknown_fields=True):
    credentials: list[Credential]


def check_mode(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path}: mode {stat.S_IMODE(mode):04o} lets group or others read it; "
            f"it holds secrets: run chmod 600 {path}"
        )


def parse(data: bytes, where: str) -> dict[str, str]:
    """principal -> secret from the file's bytes; errors name the field."""
    try:
        parsed = msgspec.json.decode(data, type=CredentialsFile)
    except msgspec.ValidationError as exc:
        raise CredentialsError(f"{where}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise CredentialsError(f"{where}: not valid JSON: {exc}") from None
    out: dict[str, str] = {}
    for i, c in enumerate(parsed.credentials):
        if not c.principal:
            raise CredentialsError(f"{where}: `$.credentials[{i}].principal` is empty")
        if c.principal in out:
            raise CredentialsError(
                f"{where}: `$.credentials[{i}].principal` {c.principal!r} appears twice"
            )
        out[c.principal] = c.secret
    return out


def load(path: str | Path) -> dict[str, str]:
    """principal -> secret from a Mesos credentials file (mode checked first)."""
    p = Path(path)
    check_mode(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{p}: cannot read: {exc.strerror}") from None
    return parse(data, str(p))


def load_one(path: str | Path) -> Credential:
    """An agent's own ``--credential``: the same format with exactly one entry, or Mesos's
    single-credential object ``{"principal": …, "secret": …}``."""
    p = Path(path)
    check_mode(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        return msgspec.json.decode(data, type=Credential)
    except msgspec.DecodeError:
        pass
    creds = parse(data, str(p))
    if len(creds) != 1:
        raise CredentialsError(f"{p}: `$.credentials` must hold exactly one credential")
    ((principal, secret),) = creds.items()
    return Credential(principal, secret)
