"""Mesos's ``Secret`` values in environment variables (``type: SECRET``): checked, resolved
for the task, and redacted from every view.

A secret is ``{"type": "VALUE", "value": {"data": <base64>}}`` (the value travels with the
task) or ``{"type": "REFERENCE", "reference": {"name": …, "key": …}}``, which needs a secret
resolver module on the agent; corral has none, so a reference is refused at launch.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from corral.wire.tasks import CommandInfo, Environment, EnvironmentVariable, ExecutorInfo

REDACTED = "<redacted>"


def is_secret(var: EnvironmentVariable) -> bool:
    return (var.type or "").upper() == "SECRET"


def problem(command: CommandInfo | None) -> str | None:
    """Why the secrets in ``command``'s environment cannot be used, or None."""
    if command is None or command.environment is None:
        return None
    for var in command.environment.variables:
        if not is_secret(var):
            continue
        try:
            value(var)
        except ValueError as exc:
            return str(exc)
    return None


def value(var: EnvironmentVariable) -> str:
    """The plain text of a SECRET variable (``ValueError`` naming the variable if unusable)."""
    secret = var.secret or {}
    kind = str(secret.get("type", "")).upper()
    if kind == "REFERENCE" or "reference" in secret:
        raise ValueError(
            f"Environment variable {var.name!r}: secret references need a secret resolver, "
            "which corral does not have; pass the secret as a VALUE"
        )
    held = secret.get("value")
    data = held.get("data") if isinstance(held, dict) else None
    if not isinstance(data, str):
        raise ValueError(f"Environment variable {var.name!r}: secret.value.data is missing")
    try:
        return base64.b64decode(data, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(
            f"Environment variable {var.name!r}: secret.value.data is not base64 of UTF-8 text"
        ) from None


def redact_command(command: CommandInfo | None) -> CommandInfo | None:
    """``command`` with every SECRET variable's secret replaced by a marker (a copy)."""
    if command is None or command.environment is None:
        return command
    variables = command.environment.variables
    if not any(is_secret(v) for v in variables):
        return command
    clean = [
        msgspec.structs.replace(v, secret={"type": "VALUE", "value": {"data": REDACTED}})
        if is_secret(v)
        else v
        for v in variables
    ]
    return msgspec.structs.replace(command, environment=Environment(variables=clean))


def redact_executor(info: ExecutorInfo) -> ExecutorInfo:
    command = redact_command(info.command)
    return info if command is info.command else msgspec.structs.replace(info, command=command)
