"""The flags a daemon (master or agent) was started with, for GET_FLAGS and the ``flags`` of
``/master/state`` and the agent's ``/state``: every flag by its Mesos-style name
(``--work-dir`` is ``work_dir``), its value as text, secrets redacted (a flag whose name says
it holds one, and the user:password of a URL). Recorded once at start by the daemon's
command; a process that recorded none reports what its views compute."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REDACTED = "[redacted]"
SECRET_NAMES = re.compile(r"secret|password|passwd|token", re.IGNORECASE)
URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)

_recorded: dict[str, str] = {}


def flag_name(fn: Callable[..., Any], param: str) -> str:
    """The flag a parameter of a typer command is given as, without dashes: ``work_dir``."""
    default = inspect.signature(fn).parameters[param].default
    decls = getattr(default, "param_decls", None) or ()
    longs = [d for d in decls if isinstance(d, str) and d.startswith("--")]
    if longs:
        return longs[0][2:].split("/")[0].replace("-", "_")
    return param


def text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return ",".join(text(v) for v in value)
    return str(value)


def redact(name: str, value: str) -> str:
    if value and SECRET_NAMES.search(name):
        return REDACTED
    return URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", value)


def of(fn: Callable[..., Any], values: Mapping[str, object]) -> dict[str, str]:
    """The flags of command ``fn`` called with ``values`` (its parameters), redacted."""
    out: dict[str, str] = {}
    for param, value in values.items():
        name = flag_name(fn, param)
        out[name] = redact(name, text(value))
    return dict(sorted(out.items()))


def record(fn: Callable[..., Any], values: Mapping[str, object]) -> None:
    _recorded.clear()
    _recorded.update(of(fn, values))


def recorded() -> dict[str, str]:
    return dict(_recorded)
