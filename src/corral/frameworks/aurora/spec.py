"""Aurora-style job specs (pure): job keys ``role/env/name`` and the TOML spec of a job,
decoded with msgspec into typed structs and checked; errors name the field and, when the
spec came from a file, its line.

A spec becomes either one Marathon app per instance on the services framework
(``/aurora/<role>/<env>/<name>/<instance>``, see ``marathon_app``) or, with
``cron_schedule``, a Chronos job on the jobs framework (``chronos_job``).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec
from croniter import croniter

_SEGMENT = re.compile(r"^([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
_ENVIRONMENT = re.compile(r"^(devel|test|production|staging[0-9]*)$")
TIERS = ("preferred", "preemptible")
APP_ROOT = "/aurora"
TIER_LABEL = "corral.tier"
PRIORITY_LABEL = "corral.priority"
JOB_LABEL = "corral.aurora.job"
INSTANCE_LABEL = "corral.aurora.instance"
VERSION_LABEL = "corral.aurora.version"


class SpecError(ValueError):
    """A spec or a key that cannot be accepted: ``field`` names what is wrong, ``line`` the
    line of the spec file it is on (when known)."""

    def __init__(self, field: str, message: str, *, source: str = "", line: int | None = None):
        self.field = field
        self.message = message
        self.source = source
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        head = f"{where}: " if where else ""
        return f"{head}{self.field}: {self.message}" if self.field else f"{head}{self.message}"


# ====================================================================== keys
class JobKey(msgspec.Struct, frozen=True):
    role: str
    env: str
    name: str

    def __str__(self) -> str:
        return f"{self.role}/{self.env}/{self.name}"

    @property
    def group(self) -> str:
        """The services framework's group holding the job's instances."""
        return f"{APP_ROOT}/{self.role}/{self.env}/{self.name}"

    def app_id(self, instance: int) -> str:
        return f"{self.group}/{instance}"

    @property
    def cron_name(self) -> str:
        """The job's name on the jobs framework (segments hold no '.', so this is unique)."""
        return f"{self.role}.{self.env}.{self.name}"


def parse_key(raw: str) -> JobKey:
    """``role/env/name``; each part lowercase letters, digits and '-' (so it is also a
    Marathon id segment), env as Aurora's rule (devel, test, production, stagingN)."""
    parts = raw.strip().split("/")
    if len(parts) != 3:
        raise SpecError("KEY", f"{raw!r} is not a job key role/env/name (three parts)")
    for what, part in zip(("role", "env", "name"), parts, strict=True):
        if not _SEGMENT.match(part):
            raise SpecError(
                "KEY",
                f"{what} {part!r} in {raw!r} must be lowercase letters, digits and '-', "
                "starting and ending with a letter or digit",
            )
    if not _ENVIRONMENT.match(parts[1]):
        raise SpecError("KEY", f"env {parts[1]!r} must be devel, test, production or staging<N>")
    return JobKey(*parts)


# ====================================================================== the spec
class Resources(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cpus: float = 1.0
    mem: float = 128.0  # MiB
    disk: float = 0.0  # MiB


class HealthCheck(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Literal["http", "tcp", "command"] = "http"
    path: str = "/"  # http
    command: str = ""  # command
    port_index: int = 0  # http, tcp: which of the job's ports
    initial_interval_secs: float = 15.0  # failures before this are not counted
    interval_secs: float = 10.0
    timeout_secs: float = 1.0
    max_consecutive_failures: int = 3  # then the instance is killed and replaced


class UpdateConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    batch_size: int = 1
    watch_secs: float = 45.0
    max_per_instance_failures: int = 0
    max_total_failures: int = 0
    rollback_on_failure: bool = True
    instance_timeout_secs: float = 300.0  # not healthy for watch_secs by then: a failure


class JobSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    command: str = ""
    image: str = ""  # a Docker image (its entrypoint, or ``command`` in it)
    instances: int = 1
    resources: Resources = Resources()
    ports: list[str] = []  # named host ports: $PORT0, $PORT1, ...
    env: dict[str, str] = {}
    health_check: HealthCheck | None = None
    max_task_failures: int = 1  # -1: unlimited
    tier: str = ""  # preferred | preemptible; "": preferred in production, else preemptible
    priority: int = 0
    cron_schedule: str = ""
    update: UpdateConfig = UpdateConfig()

    def tier_for(self, key: JobKey) -> str:
        return self.tier or ("preferred" if key.env == "production" else "preemptible")


def check_spec(spec: JobSpec) -> None:
    """What the types do not say; raises SpecError naming the field."""
    if not spec.command and not spec.image:
        raise SpecError("command", "a job needs a command or an image")
    if spec.instances < 1:
        raise SpecError("instances", f"must be at least 1, not {spec.instances}")
    r = spec.resources
    if not r.cpus > 0:
        raise SpecError("resources.cpus", f"must be more than 0, not {r.cpus:g}")
    if not r.mem > 0:
        raise SpecError("resources.mem", f"must be more than 0 MiB, not {r.mem:g}")
    if r.disk < 0:
        raise SpecError("resources.disk", f"must not be negative, not {r.disk:g}")
    if spec.tier and spec.tier not in TIERS:
        raise SpecError("tier", f"must be preferred or preemptible, not {spec.tier!r}")
    if spec.max_task_failures < -1 or spec.max_task_failures == 0:
        raise SpecError(
            "max_task_failures",
            f"must be -1 (unlimited) or at least 1, not {spec.max_task_failures}",
        )
    for i, port in enumerate(spec.ports):
        if not _SEGMENT.match(port):
            raise SpecError(
                f"ports[{i}]", f"{port!r}: a port name is lowercase letters, digits, '-'"
            )
    hc = spec.health_check
    if hc is not None:
        if hc.type == "command" and not hc.command:
            raise SpecError("health_check.command", "a command check needs a command")
        if hc.type != "command" and not 0 <= hc.port_index < max(1, len(spec.ports)):
            raise SpecError(
                "health_check.port_index",
                f"{hc.port_index} is not one of the job's {max(1, len(spec.ports))} port(s)",
            )
        for name in ("initial_interval_secs", "interval_secs", "timeout_secs"):
            if getattr(hc, name) < 0:
                raise SpecError(f"health_check.{name}", "must not be negative")
        if hc.interval_secs <= 0:
            raise SpecError("health_check.interval_secs", "must be more than 0")
        if hc.max_consecutive_failures < 0:
            raise SpecError("health_check.max_consecutive_failures", "must not be negative")
    u = spec.update
    if u.batch_size < 1:
        raise SpecError("update.batch_size", f"must be at least 1, not {u.batch_size}")
    if u.watch_secs < 0:
        raise SpecError("update.watch_secs", "must not be negative")
    if u.max_per_instance_failures < 0:
        raise SpecError("update.max_per_instance_failures", "must not be negative")
    if u.max_total_failures < 0:
        raise SpecError("update.max_total_failures", "must not be negative")
    if u.instance_timeout_secs <= u.watch_secs:
        raise SpecError("update.instance_timeout_secs", "must be more than update.watch_secs")
    if spec.cron_schedule:
        if not croniter.is_valid(spec.cron_schedule):
            raise SpecError("cron_schedule", f"{spec.cron_schedule!r} is not a cron line")
        if spec.instances != 1:
            raise SpecError("instances", "a cron job runs one instance per run")
        if hc is not None:
            raise SpecError("health_check", "a cron job has no health check")


CHOICES = {"health_check.type": ("http", "tcp", "command")}
_PATH = re.compile(r" - at `\$((?:\.[A-Za-z_0-9]+|\[\d+\])*)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]+)`")


def _error_path(exc: msgspec.ValidationError) -> tuple[list[str], str]:
    """The field path of a msgspec error (``['resources', 'cpus']``) and its message."""
    text = str(exc)
    path: list[str] = []
    m = _PATH.search(text)
    if m:
        text = text[: m.start()]
        path = [p for p in re.split(r"\.|(?=\[)", m.group(1)) if p]
    unknown = _UNKNOWN.match(text)
    if unknown:
        path.append(unknown.group(1))
        text = "unknown field (see docs/aurora.md for the spec's fields)"
    return path, text[:1].lower() + text[1:]


def _dotted(path: list[str]) -> str:
    return ".".join(path).replace(".[", "[")


def decode_spec(data: Any, *, text: str = "", source: str = "") -> JobSpec:
    """A spec from decoded TOML (or JSON) ``data``; ``text`` (the file's text) lets errors
    carry a line number."""
    try:
        spec = msgspec.convert(data, JobSpec)
    except msgspec.ValidationError as exc:
        path, message = _error_path(exc)
        keys = [p for p in path if not p.startswith("[")]
        if message.startswith("invalid enum value") and _dotted(path) in CHOICES:
            message += f": expected one of {', '.join(CHOICES[_dotted(path)])}"
        raise SpecError(
            _dotted(path), message, source=source, line=line_of(text, keys) if text else None
        ) from None
    try:
        check_spec(spec)
    except SpecError as exc:
        keys = [p for p in re.split(r"\.|\[\d+\]", exc.field) if p]
        exc.source = source
        exc.line = line_of(text, keys) if text else None
        raise
    return spec


def load_spec(path: Path) -> JobSpec:
    """Read and check a TOML spec file; SpecError (naming the file) if it is not one."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError("", str(exc.strerror or exc), source=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("", f"not valid TOML: {exc}", source=str(path)) from None
    return decode_spec(data, text=text, source=str(path))


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _keys(dotted: str) -> list[str]:
    return [k.strip().strip("\"'") for k in dotted.split(".")]


def line_of(text: str, path: list[str]) -> int | None:
    """The 1-based line where the TOML key ``path`` (or the nearest enclosing key) is set:
    a ``key = ...`` line under its table, a dotted key, or a ``[table]`` header."""
    if not path:
        return None
    table: list[str] = []
    best: tuple[int, int] | None = None  # (matched depth, line)
    for n, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _keys(header.group(1))
            full = table
        else:
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            full = table + _keys(assign.group(1))
        depth = 0
        for a, b in zip(full, path, strict=False):
            if a != b:
                break
            depth += 1
        if depth == len(full) and (best is None or depth > best[0]):
            best = (depth, n)
            if depth == len(path):
                return n
    return best[1] if best else None


def version_of(spec: JobSpec) -> str:
    """A short stable id of a spec's content (the label on every instance it runs)."""
    return hashlib.sha256(msgspec.json.encode(spec)).hexdigest()[:12]


# ====================================================================== conversions
def marathon_app(key: JobKey, spec: JobSpec, instance: int, version: str) -> dict[str, Any]:
    """The services framework's app for one instance of a job: one task, killed before its
    replacement starts (Aurora's kill-and-replace), labels for the tier and priority."""
    ports = spec.ports or (
        ["http"] if spec.health_check and spec.health_check.type != "command" else []
    )
    app: dict[str, Any] = {
        "id": key.app_id(instance),
        "cpus": spec.resources.cpus,
        "mem": spec.resources.mem,
        "disk": spec.resources.disk,
        "instances": 1,
        "env": dict(spec.env),
        "labels": {
            TIER_LABEL: spec.tier_for(key),
            PRIORITY_LABEL: str(spec.priority),
            JOB_LABEL: str(key),
            INSTANCE_LABEL: str(instance),
            VERSION_LABEL: version,
        },
        "portDefinitions": [{"port": 0, "name": p} for p in ports],
        "upgradeStrategy": {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0},
        "backoffSeconds": 1,
        "maxLaunchDelaySeconds": 30,
    }
    if spec.command:
        app["cmd"] = spec.command
    if spec.image:
        app["container"] = {"type": "DOCKER", "docker": {"image": spec.image}}
    hc = spec.health_check
    if hc is not None:
        check: dict[str, Any] = {
            "protocol": {"http": "HTTP", "tcp": "TCP", "command": "COMMAND"}[hc.type],
            "gracePeriodSeconds": hc.initial_interval_secs,
            "intervalSeconds": hc.interval_secs,
            "timeoutSeconds": hc.timeout_secs,
            "maxConsecutiveFailures": hc.max_consecutive_failures,
            "delaySeconds": 0,
        }
        if hc.type == "http":
            check["path"] = hc.path
        if hc.type == "command":
            check["command"] = {"value": hc.command}
        else:
            check["portIndex"] = hc.port_index
        app["healthChecks"] = [check]
    return app


UNLIMITED_RETRIES = 1000


def chronos_job(key: JobKey, spec: JobSpec) -> dict[str, Any]:
    """The jobs framework's job for a cron job: runs retried up to ``max_task_failures``."""
    job: dict[str, Any] = {
        "name": key.cron_name,
        "command": spec.command,
        "schedule": spec.cron_schedule,
        "cpus": spec.resources.cpus,
        "mem": spec.resources.mem,
        "disk": spec.resources.disk,
        "retries": UNLIMITED_RETRIES if spec.max_task_failures < 0 else spec.max_task_failures - 1,
        "environmentVariables": [{"name": k, "value": v} for k, v in sorted(spec.env.items())],
        "description": f"aurora job {key} (tier {spec.tier_for(key)}, priority {spec.priority})",
        "owner": key.role,
    }
    if spec.image:
        job["container"] = {"type": "DOCKER", "image": spec.image}
    return job


def total_resources(spec: JobSpec) -> dict[str, float]:
    """What all of a job's instances hold."""
    n = spec.instances
    r = spec.resources
    return {"cpus": r.cpus * n, "mem": r.mem * n, "disk": r.disk * n}
