"""Deployment plans (pure): from a change (app id -> new definition, or None to delete), the
steps of actions in dependency order. Dependencies start, scale and restart first; stops
come first and dependents stop before what they depend on."""

from __future__ import annotations

import msgspec

from corral.frameworks.services.appdef import AppDefinition, VersionInfo
from corral.frameworks.services.checks import resolved_dependencies
from corral.frameworks.services.records import Deployment
from corral.frameworks.services.views import BadRequest

START = "StartApplication"
STOP = "StopApplication"
SCALE = "ScaleApplication"
RESTART = "RestartApplication"


def same_config(a: AppDefinition, b: AppDefinition) -> bool:
    def bare(d: AppDefinition) -> AppDefinition:
        return msgspec.structs.replace(d, instances=0, version=None, version_info=None)

    return bare(a) == bare(b)


def stamp(new: AppDefinition, old: AppDefinition | None, version: str, *,
          restart: bool = False) -> AppDefinition:
    """``new`` at ``version``; its config version moves unless only ``instances`` changed."""
    if old is not None and not restart and same_config(new, old) and old.version_info:
        info = VersionInfo(last_scaling_at=version,
                           last_config_change_at=old.version_info.last_config_change_at)
    else:
        info = VersionInfo(last_scaling_at=version, last_config_change_at=version)
    return msgspec.structs.replace(new, version=version, version_info=info)


def action_of(old: AppDefinition | None, new: AppDefinition | None) -> str:
    if old is None:
        return START
    if new is None:
        return STOP
    if new.version_info and old.version_info and (
        new.version_info.last_config_change_at == old.version_info.last_config_change_at
    ):
        return SCALE
    return RESTART


def levels(defs: dict[str, AppDefinition]) -> dict[str, int]:
    """Dependency depth of each app (0: depends on none of ``defs``); BadRequest on a cycle."""
    deps = {a: [d for d in resolved_dependencies(x) if d in defs] for a, x in defs.items()}
    out: dict[str, int] = {}

    def visit(a: str, path: list[str]) -> int:
        if a in out:
            return out[a]
        if a in path:
            cycle = " -> ".join([*path[path.index(a):], a])
            raise BadRequest(f"dependency cycle: {cycle}")
        out[a] = 1 + max((visit(d, [*path, a]) for d in deps[a]), default=-1)
        return out[a]

    for a in defs:
        visit(a, [])
    return out


def plan(
    dep_id: str,
    version: str,
    original: dict[str, AppDefinition | None],
    target: dict[str, AppDefinition | None],
    everyone: dict[str, AppDefinition],
    now: float,
    kill_first: list[str] | None = None,
) -> Deployment:
    """``everyone``: every app's definition after the change (for the dependency order)."""
    lv = levels(everyone)
    gone = {a: d for a, d in original.items() if d is not None and target.get(a) is None}
    olv = levels({**everyone, **gone}) if gone else lv
    stops: dict[int, list[tuple[str, str]]] = {}
    others: dict[int, list[tuple[str, str]]] = {}
    for app_id in sorted(target):
        act = action_of(original.get(app_id), target[app_id])
        if act == STOP:
            depth = olv.get(app_id, 0)
            stops.setdefault(depth, []).append((act, app_id))
        else:
            others.setdefault(lv.get(app_id, 0), []).append((act, app_id))
    steps = [stops[k] for k in sorted(stops, reverse=True)]
    steps += [others[k] for k in sorted(others)]
    return Deployment(
        id=dep_id, version=version, steps=steps, original=original, target=target,
        kill_first=list(kill_first or []), started_at=now, step_started_at=now,
    )


__all__ = ["RESTART", "SCALE", "START", "STOP", "action_of", "levels", "plan", "same_config",
           "stamp"]
