"""App definitions in and out: a user's JSON/TOML document <-> ``AppDefinition`` (pure).

``parse_app`` accepts Marathon's fields (camelCase) and its legacy forms (``ports``,
``uris``, ``container.docker.portMappings``, ``container.docker.network``), and raises
``Invalid`` naming every bad field by JSON path, as Marathon's 422 does. ``render_app``
gives Marathon's JSON of a definition, restricted to the keys the marathon 0.13.0 client's
strict models accept.
"""

from __future__ import annotations

import datetime
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from corral.frameworks.services import checks
from corral.frameworks.services.appdef import (
    AppDefinition,
    Container,
    Docker,
    HealthCheck,
    PortDefinition,
    PortMapping,
    UnreachableStrategy,
    Volume,
)
from corral.frameworks.services.convert import BAD, Rules, to_struct
from corral.frameworks.services.errors import (
    INVALID_JSON,
    NOT_VALID,
    Detail,
    Invalid,
    status_of,
)
from corral.frameworks.services.ids import normalize_id

NOT_YET = "not supported by corral"

# Keys Marathon (and clients echoing its JSON back) send that are not part of a definition.
READ_ONLY = frozenset(
    {
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
        "tasks",
        "lastTaskFailure",
        "taskStats",
        "tasksStats",
        "readinessCheckResults",
        "storeUrls",
        "taskRateLimit",
        "versionInfo",
        "version",
    }
)

RULES: dict[type, Rules] = {
    AppDefinition: Rules(
        ignored=READ_ONLY,
        unsupported={
            "readinessChecks": f"{NOT_YET}: readiness checks (use healthChecks)",
            "secrets": f"{NOT_YET}: secrets",
            "residency": f"{NOT_YET}: resident apps (persistent volumes)",
            "ipAddress": f"{NOT_YET}: ipAddress (IP per task)",
            "tty": f"{NOT_YET}: tty",
            "check": f"{NOT_YET}: check (use healthChecks)",
            "resourceLimits": f"{NOT_YET}: resourceLimits",
            "executorResources": f"{NOT_YET}: executorResources",
        },
    ),
    Container: Rules(
        unsupported={"linuxInfo": f"{NOT_YET}: linuxInfo", "mesos": f"{NOT_YET}: container.mesos"}
    ),
    Docker: Rules(
        unsupported={
            "credential": f"{NOT_YET}: docker credentials",
            "pullConfig": f"{NOT_YET}: pullConfig",
        }
    ),
    PortMapping: Rules(unsupported={"networkNames": f"{NOT_YET}: networkNames (user networks)"}),
    Volume: Rules(
        unsupported={
            "persistent": f"{NOT_YET}: persistent volumes",
            "external": f"{NOT_YET}: external volumes",
        }
    ),
    HealthCheck: Rules(ignored=frozenset({"ipProtocol"})),
    PortDefinition: Rules(),
    UnreachableStrategy: Rules(
        unsupported={
            "unreachableInactiveAfterSeconds": "use inactiveAfterSeconds",
            "unreachableExpungeAfterSeconds": "use expungeAfterSeconds",
        }
    ),
}


# ---------------------------------------------------------------------- in
def parse_app(
    doc: object,
    *,
    base: AppDefinition | None = None,
    partial: bool = False,
    group: str = "/",
) -> AppDefinition:
    """``doc`` (decoded JSON or TOML) as a definition; raises Invalid naming every bad field.

    ``partial``: fields ``doc`` does not give keep ``base``'s values (PATCH, PUT with
    partialUpdate). Without an ``id``, ``base``'s is used. A relative id is resolved against
    ``group``; dependencies against the app's own group. ``version`` and ``versionInfo``
    are read-only: the result keeps ``base``'s (the caller stamps a new version).
    """
    if not isinstance(doc, dict):
        raise Invalid.one("/", "expected a JSON object (an app definition)")
    errors: list[Detail] = []
    given = _legacy(dict(doc), errors)
    if partial and base is not None:
        merged: dict[str, Any] = _builtins(base)
        merged.update(given)
        if _bridged(given) and not _has_ports(doc):
            merged["portDefinitions"] = []
    else:
        merged = given
        if not _has_ports(doc) and not _bridged(merged):
            merged["portDefinitions"] = [{"port": 0}]
    for key in ("version", "versionInfo"):
        merged.pop(key, None)
    raw_id = merged.get("id", base.id if base is not None else None)
    if raw_id is None:
        errors.append(Detail("/id", ["is required"]))
        merged["id"] = "/placeholder"
    else:
        try:
            merged["id"] = normalize_id(raw_id, group if "id" in given else "/")
        except Invalid as exc:
            errors.extend(exc.details)
            merged["id"] = "/placeholder"
    app = to_struct(merged, AppDefinition, "", errors, RULES)
    if app is BAD:
        # Check the rest too: the fields that did convert, with defaults for the bad ones.
        bad = {_top(d.path) for d in errors}
        rest = {k: v for k, v in merged.items() if k not in bad}
        rest.setdefault("id", "/placeholder")
        app = to_struct(rest, AppDefinition, "", [], RULES)
        if app is BAD:
            raise Invalid(errors)
        errors.extend(d for d in checks.check_app(app) if _top(d.path) not in bad)
        raise Invalid(errors)
    errors.extend(checks.check_app(app))
    if errors:
        raise Invalid(errors)
    assert isinstance(app, AppDefinition)
    return msgspec.structs.replace(
        app,
        dependencies=checks.resolved_dependencies(app),
        version=base.version if base is not None else None,
        version_info=base.version_info if base is not None else None,
    )


def _top(path: str) -> str:
    return path.split("/")[1] if path.count("/") >= 1 else ""


def _has_ports(doc: dict[str, Any]) -> bool:
    return "portDefinitions" in doc or "ports" in doc


def _bridged(doc: dict[str, Any]) -> bool:
    nets = doc.get("networks")
    if isinstance(nets, list) and nets:
        return any(isinstance(n, dict) and n.get("mode", "host") != "host" for n in nets)
    return False


def _legacy(doc: dict[str, Any], errors: list[Detail]) -> dict[str, Any]:
    """Marathon's older forms turned into the current ones (in place; returns ``doc``)."""
    ports = doc.pop("ports", None)
    if ports is not None:
        if not isinstance(ports, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in ports
        ):
            errors.append(Detail("/ports", ["expected an array of port numbers"]))
        elif "portDefinitions" not in doc:
            doc["portDefinitions"] = [{"port": p} for p in ports]
        elif [
            pd.get("port") if isinstance(pd, dict) else None for pd in doc["portDefinitions"]
        ] != ports and ports:
            errors.append(Detail("/ports", ["give portDefinitions or ports, not both"]))
    uris = doc.pop("uris", None)
    if uris is not None:
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            errors.append(Detail("/uris", ["expected an array of URI strings"]))
        elif uris and "fetch" in doc and doc["fetch"]:
            errors.append(Detail("/uris", ["give fetch or uris, not both"]))
        elif uris:
            doc["fetch"] = [{"uri": u} for u in uris]
    if doc.get("unreachableStrategy") == "disabled":
        doc["unreachableStrategy"] = None
    container = doc.get("container")
    if isinstance(container, dict):
        container = doc["container"] = dict(container)
        docker = container.get("docker")
        if isinstance(docker, dict):
            docker = container["docker"] = dict(docker)
            old = docker.pop("portMappings", None)
            if old and not container.get("portMappings"):
                container["portMappings"] = old
            network = docker.get("network")
            if isinstance(network, str):
                mode = checks.DOCKER_NETWORKS.get(network.upper())
                if mode is None:
                    errors.append(
                        Detail(
                            "/container/docker/network",
                            [f"{network!r}: expected one of BRIDGE, HOST, USER, NONE"],
                        )
                    )
                elif not doc.get("networks"):
                    doc["networks"] = [{"mode": mode}]
                docker["network"] = None
    constraints = doc.get("constraints")
    if isinstance(constraints, list):
        doc["constraints"] = [_constraint_item(c) for c in constraints]
    env = doc.get("env")
    if isinstance(env, dict):
        for k, v in env.items():
            if isinstance(v, dict) and "secret" in v:
                errors.append(Detail(f"/env/{k}", [f"{NOT_YET}: secrets"]))
        doc["env"] = {k: v for k, v in env.items() if not (isinstance(v, dict) and "secret" in v)}
    return doc


def _constraint_item(c: object) -> object:
    """``"f:OP:v"`` and numbers in ``[f, OP, 2]`` as Marathon's string triple."""
    if isinstance(c, str):
        return c.split(":", 2)
    if isinstance(c, list):
        return [
            str(int(p))
            if isinstance(p, float) and p == int(p)
            else str(p)
            if isinstance(p, int | float) and not isinstance(p, bool)
            else p
            for p in c
        ]
    return c


def _builtins(app: AppDefinition) -> dict[str, Any]:
    out = msgspec.to_builtins(app)
    assert isinstance(out, dict)
    return out


def parse_json_body(body: bytes) -> object:
    """The decoded JSON of a request body; malformed JSON raises Invalid "Invalid JSON"."""
    if not body.strip():
        raise Invalid.one("/", "the body is empty (expected JSON)", INVALID_JSON)
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise Invalid.one("/", str(exc), INVALID_JSON) from None


def load_app_file(path: Path) -> object:
    """The document in ``path``: TOML for ``.toml``, JSON otherwise. A file that does not
    parse raises Invalid (``Invalid JSON`` / ``Invalid TOML``) naming the file."""
    data = Path(path).read_bytes()
    if str(path).endswith(".toml"):
        try:
            return tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise Invalid.one("/", f"{path}: {exc}", "Invalid TOML") from None
    try:
        return parse_json_body(data)
    except Invalid as exc:
        raise Invalid(
            [Detail(d.path, [f"{path}: {e}" for e in d.errors]) for d in exc.details],
            exc.message,
        ) from None


# ---------------------------------------------------------------------- out
def render_app(app: AppDefinition) -> dict[str, object]:
    """Marathon's JSON of the definition (camelCase, no counts or tasks); only keys the
    marathon 0.13.0 models accept; nulls left out; ``unreachableStrategy`` "disabled" when
    unset; every health check with its ``portIndex`` (0 when neither port nor index)."""
    out = _drop_none(_builtins(app))
    assert isinstance(out, dict)
    if app.unreachable_strategy is None:
        out["unreachableStrategy"] = "disabled"
    out.pop("networks", None) if not app.networks else None
    hcs = out.get("healthChecks")
    if isinstance(hcs, list):
        for hc, src in zip(hcs, app.health_checks, strict=True):
            if src.port is None and src.port_index is None:
                hc["portIndex"] = 0
            if src.protocol not in ("COMMAND",):
                hc.pop("command", None)
            if src.protocol in ("TCP", "COMMAND", "MESOS_TCP"):
                hc.pop("path", None)
    return out


def _drop_none(v: object) -> object:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_none(x) for x in v]
    return v


def now_version(now: float) -> str:
    """A version / timestamp string: ISO-8601 UTC with milliseconds,
    ``2026-01-01T00:00:00.000Z``."""
    t = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


__all__ = [
    "INVALID_JSON",
    "NOT_VALID",
    "RULES",
    "Detail",
    "Invalid",
    "load_app_file",
    "now_version",
    "parse_app",
    "parse_json_body",
    "render_app",
    "status_of",
]
