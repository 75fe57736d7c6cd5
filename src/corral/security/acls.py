"""Authorization: an ACL file in the spirit of Mesos's ACLs, and the pure decision over it.

Each action holds an ordered list of rules; a rule names a subject (``principals``) and an
object (``roles``, ``users`` or ``framework_principals``, by action), each an entity:
``{"values": [...]}``, ``{"type": "ANY"}`` or ``{"type": "NONE"}``. The first rule whose
subject matches decides: its object matches -> allowed, its object is NONE -> denied;
otherwise the next rule is tried. When no rule decides, ``permissive`` does (default false:
default-deny once a file is given). JSON or TOML."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

ANY: Literal["ANY"] = "ANY"
NONE: Literal["NONE"] = "NONE"


class Entity(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    values: list[str] | None = None
    type: Literal["ANY", "NONE", "SOME"] | None = None

    def matches(self, value: str | None) -> bool:
        """Whether ``value`` (None: no principal / unset) is in this entity."""
        if self.type == ANY:
            return True
        if self.type == NONE:
            return False
        return value is not None and value in (self.values or [])


class Rule(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    principals: Entity = msgspec.field(default_factory=lambda: Entity(type=ANY))
    roles: Entity | None = None
    users: Entity | None = None
    framework_principals: Entity | None = None


class ACLs(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    permissive: bool = False
    register_frameworks: list[Rule] = []
    run_tasks: list[Rule] = []
    teardown_frameworks: list[Rule] = []
    view_frameworks: list[Rule] = []
    view_tasks: list[Rule] = []
    access_sandboxes: list[Rule] = []
    operator_writes: list[Rule] = []
    register_agents: list[Rule] = []


# Each action and the rule field that holds its object.
OBJECT_FIELD: dict[str, str] = {
    "register_frameworks": "roles",
    "run_tasks": "users",
    "teardown_frameworks": "framework_principals",
    "view_frameworks": "users",
    "view_tasks": "users",
    "access_sandboxes": "users",
    "operator_writes": "",  # no object: the subject alone decides
    "register_agents": "",
}
ACTIONS = tuple(OBJECT_FIELD)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str  # e.g. "register_frameworks[1]", or "default deny (no rule ...)"

    def describe(self, action: str, principal: str | None, obj: str | None) -> str:
        who = f"principal '{principal}'" if principal is not None else "an anonymous caller"
        what = f" for '{obj}'" if obj is not None else ""
        verdict = "allowed" if self.allowed else "not authorized"
        return f"{who} is {verdict} to {action}{what} (ACL rule {self.rule})"


ALLOW_ALL = Decision(True, "no ACLs")


def authorize(acls: ACLs | None, principal: str | None, action: str, obj: str | None) -> Decision:
    """May ``principal`` do ``action`` on ``obj`` (a role, an OS user, a framework's
    principal; None when the action has no object or it is unset)? Pure."""
    if acls is None:
        return ALLOW_ALL
    if action not in OBJECT_FIELD:
        raise ValueError(f"unknown ACL action {action!r}")
    field_name = OBJECT_FIELD[action]
    rules: list[Rule] = getattr(acls, action)
    for i, rule in enumerate(rules):
        if not rule.principals.matches(principal):
            continue
        entity: Entity | None = getattr(rule, field_name) if field_name else None
        name = f"{action}[{i}]"
        if entity is None:  # no object named: the subject's match decides
            return Decision(True, name)
        if entity.type == NONE:
            return Decision(False, name)
        if entity.matches(obj):
            return Decision(True, name)
    if acls.permissive:
        return Decision(True, f"permissive (no rule in {action} matches)")
    return Decision(False, f"default deny (no rule in {action} matches)")


class ACLError(ValueError):
    """An ACL file that cannot be used: the message names the file and the field."""


def check(acls: ACLs, where: str) -> None:
    for action in ACTIONS:
        field_name = OBJECT_FIELD[action]
        for i, rule in enumerate(getattr(acls, action)):
            entities = [("principals", rule.principals)]
            for other in ("roles", "users", "framework_principals"):
                ent = getattr(rule, other)
                if ent is not None:
                    if other != field_name:
                        raise ACLError(
                            f"{where}: `$.{action}[{i}].{other}` is not used by {action}"
                            + (f" (it takes `{field_name}`)" if field_name else "")
                        )
                    entities.append((other, ent))
            for name, ent in entities:
                if ent.type in (None, "SOME") and ent.values is None:
                    raise ACLError(
                        f"{where}: `$.{action}[{i}].{name}` needs `values` or `type` ANY/NONE"
                    )


def parse(data: bytes, where: str) -> ACLs:
    """ACLs from JSON, or TOML when ``where`` ends in .toml."""
    try:
        raw = tomllib.loads(data.decode()) if where.endswith(".toml") else json.loads(data)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ACLError(f"{where}: cannot parse: {exc}") from None
    try:
        acls = msgspec.convert(raw, ACLs)
    except msgspec.ValidationError as exc:
        raise ACLError(f"{where}: {exc}") from None
    check(acls, where)
    return acls


def load(path: str | Path) -> ACLs:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ACLError(f"{p}: cannot read: {exc.strerror}") from None
    return parse(data, str(p))
