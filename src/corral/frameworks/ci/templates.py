"""Agent templates: the ci framework's TOML configuration, read and checked (pure).

```toml
name = "ci"                  # the framework's name at the master (and of its store)
role = "*"
on-demand = true             # registered with the master only while it needs or holds agents

[[template]]
name = "linux"
labels = ["linux", "docker"]
cpus = 1.0
mem = 1024
disk = 0
executors = 1                # concurrent builds per agent
container = "MESOS"          # or "DOCKER", with image = "..."
command = "buildbot-worker ... && buildbot-worker start --nodaemon w"
env = { FOO = "bar" }
min = 0
max = 10
provision-delay = 120        # seconds work waits unserved before a new agent is made
idle-termination = 180       # seconds an agent may idle before it is removed (0: never)
constraints = ["rack:LIKE:a.*"]
```

``load_config(text)`` returns a ``CiConfig`` or raises ``ConfigError`` whose message names the
line and the field (``templates.toml:7: template "linux": max: must be at least min (2)``).
TOML syntax errors keep tomllib's own line and column.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.scheduler_client.placement import Constraint

DEFAULT_PROVISION_DELAY = 120.0  # Jenkins's NodeProvisioner waits for minutes; so do we
DEFAULT_IDLE_TERMINATION = 180.0  # the mesos plugin's idleTerminationMinutes = 3
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
CONTAINERS = ("MESOS", "DOCKER")
TEMPLATE_KEYS = frozenset(
    {
        "name",
        "labels",
        "cpus",
        "mem",
        "disk",
        "executors",
        "container",
        "image",
        "command",
        "env",
        "min",
        "max",
        "provision-delay",
        "idle-termination",
        "constraints",
    }
)
TOP_KEYS = frozenset({"name", "role", "on-demand", "template"})


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the line and the field."""


@dataclass(frozen=True)
class Template:
    name: str
    command: str
    labels: tuple[str, ...] = ()
    cpus: float = 0.1
    mem: float = 512.0
    disk: float = 0.0
    executors: int = 1
    container: str = "MESOS"
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    min: int = 0
    max: int = 10
    provision_delay: float = DEFAULT_PROVISION_DELAY
    idle_termination: float = DEFAULT_IDLE_TERMINATION
    constraints: tuple[str, ...] = ()

    def serves(self, labels: frozenset[str]) -> bool:
        """Whether an agent of this template can run work that needs ``labels``."""
        return labels <= set(self.labels)


@dataclass(frozen=True)
class CiConfig:
    templates: tuple[Template, ...]
    name: str = "ci"
    role: str = "*"
    on_demand: bool = True

    def template(self, name: str) -> Template | None:
        return next((t for t in self.templates if t.name == name), None)


# ---------------------------------------------------------------------- locating lines
_HEADER = re.compile(r"^\s*\[")
_TEMPLATE_HEADER = re.compile(r"^\s*\[\[\s*template\s*\]\]")


def _template_lines(text: str) -> list[tuple[int, int]]:
    """(first, last) 1-based line numbers of each ``[[template]]`` table, in order."""
    lines = text.splitlines()
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, line in enumerate(lines, 1):
        if _HEADER.match(line):
            if start is not None:
                spans.append((start, i - 1))
                start = None
            if _TEMPLATE_HEADER.match(line):
                start = i
    if start is not None:
        spans.append((start, len(lines)))
    return spans


def _line_of(text: str, span: tuple[int, int] | None, key: str | None) -> int:
    lines = text.splitlines()
    first, last = span if span is not None else (1, _first_header(lines))
    if key is not None:
        pattern = re.compile(rf'^\s*("{re.escape(key)}"|{re.escape(key)})\s*=')
        for i in range(first, last + 1):
            if pattern.match(lines[i - 1]):
                return i
    return first


def _first_header(lines: list[str]) -> int:
    for i, line in enumerate(lines, 1):
        if _HEADER.match(line):
            return max(1, i - 1)
    return max(1, len(lines))


# ---------------------------------------------------------------------- checking values
class _Fields:
    """Reads one table's fields, raising ConfigError naming the line and the field."""

    def __init__(
        self,
        text: str,
        source: str,
        table: dict[str, Any],
        where: str,
        span: tuple[int, int] | None,
    ) -> None:
        self.text = text
        self.source = source
        self.table = table
        self.where = where
        self.span = span

    def fail(self, key: str | None, message: str) -> ConfigError:
        line = _line_of(self.text, self.span, key)
        what = f"{self.where}: {key}" if key else self.where
        return ConfigError(f"{self.source}:{line}: {what}: {message}")

    def number(
        self, key: str, default: float, *, minimum: float = 0.0, positive: bool = False
    ) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if positive and value <= 0:
            raise self.fail(key, f"must be positive, not {value}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, not {value}")
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, not {value!r}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, not {value}")
        return value

    def string(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(None, f"{key} is required")
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, not {value!r}")
        return tuple(value)


def _template(f: _Fields) -> Template:
    name = f.string("name")
    if not NAME_RE.match(name):
        raise f.fail("name", f"{name!r}: use lower-case letters, digits and '-' (at most 63)")
    f.where = f'template "{name}"'
    for key in f.table:
        if key not in TEMPLATE_KEYS:
            raise f.fail(key, f"unknown field (known: {', '.join(sorted(TEMPLATE_KEYS))})")
    command = f.string("command")
    if not command.strip():
        raise f.fail("command", "must not be empty")
    container = f.string("container", "MESOS").upper()
    if container not in CONTAINERS:
        raise f.fail("container", f"must be MESOS or DOCKER, not {container!r}")
    image = f.table.get("image")
    if image is not None and (not isinstance(image, str) or not image):
        raise f.fail("image", f"must be a non-empty string, not {image!r}")
    if container == "DOCKER" and image is None:
        raise f.fail("container", 'DOCKER needs an image (image = "...")')
    env = f.table.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise f.fail("env", 'must be a table of strings, e.g. env = { KEY = "value" }')
    minimum = f.integer("min", 0, minimum=0)
    maximum = f.integer("max", max(10, minimum), minimum=1)
    if maximum < minimum:
        raise f.fail("max", f"must be at least min ({minimum}), not {maximum}")
    constraints = f.strings("constraints")
    for c in constraints:
        try:
            Constraint.parse(c)
        except ValueError as exc:
            raise f.fail("constraints", str(exc)) from None
    return Template(
        name=name,
        command=command,
        labels=f.strings("labels"),
        cpus=f.number("cpus", 0.1, positive=True),
        mem=f.number("mem", 512.0, positive=True),
        disk=f.number("disk", 0.0),
        executors=f.integer("executors", 1, minimum=1),
        container=container,
        image=image,
        env=dict(env),
        min=minimum,
        max=maximum,
        provision_delay=f.number("provision-delay", DEFAULT_PROVISION_DELAY),
        idle_termination=f.number("idle-termination", DEFAULT_IDLE_TERMINATION),
        constraints=constraints,
    )


def load_config(text: str, source: str = "templates.toml") -> CiConfig:
    """Parse and check a configuration; ``ConfigError`` names the line and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    top = _Fields(text, source, data, "top level", None)
    for key in data:
        if key not in TOP_KEYS:
            raise top.fail(key, f"unknown setting (known: {', '.join(sorted(TOP_KEYS))})")
    name = top.string("name", "ci")
    if not name or "/" in name:
        raise top.fail("name", f"{name!r}: must be non-empty without '/'")
    role = top.string("role", "*")
    on_demand = data.get("on-demand", True)
    if not isinstance(on_demand, bool):
        raise top.fail("on-demand", f"must be true or false, not {on_demand!r}")
    tables = data.get("template", [])
    if not isinstance(tables, list) or not tables:
        raise top.fail(None, "no [[template]] tables: at least one agent template is needed")
    spans = _template_lines(text)
    templates: list[Template] = []
    for i, table in enumerate(tables):
        span = spans[i] if i < len(spans) else None
        f = _Fields(text, source, table, f"template #{i + 1}", span)
        t = _template(f)
        if any(other.name == t.name for other in templates):
            raise f.fail("name", f"{t.name!r} is used by an earlier template")
        templates.append(t)
    return CiConfig(templates=tuple(templates), name=name, role=role, on_demand=on_demand)


def read_config(path: str | Path) -> CiConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read it: {exc.strerror or exc}") from None
    return load_config(text, str(p))


__all__ = [
    "DEFAULT_IDLE_TERMINATION",
    "DEFAULT_PROVISION_DELAY",
    "CiConfig",
    "ConfigError",
    "Template",
    "load_config",
    "read_config",
]
