"""Group documents in and out (pure).

A group is ``{id, apps: [...], groups: [...], dependencies: [...]}``. ``parse_group`` reads
one into its apps, every id resolved relative to the group that encloses it, and the
groups' dependencies; errors are collected across the whole tree with their JSON paths
(``/groups/0/apps/1/cpus``). ``render_group`` builds Marathon's group tree from rendered
apps (never ``enforceRole``, which the marathon 0.13.0 client rejects).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.codec import parse_app
from corral.frameworks.services.errors import Detail, Invalid
from corral.frameworks.services.ids import is_under, normalize_group_id, normalize_id

GROUP_KEYS = frozenset({"id", "apps", "groups", "dependencies", "version", "pods", "enforceRole"})


@dataclass
class GroupDoc:
    """A parsed group document: its absolute id, every app in the tree (absolute ids),
    every group in it (``ids``, the group itself first) and each group's dependencies."""

    id: str
    apps: list[AppDefinition] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    dependencies: dict[str, list[str]] = field(default_factory=dict)


def parse_group(doc: object, *, base: str = "/", group_id: str | None = None) -> GroupDoc:
    """``doc`` as a group. ``group_id`` (from the URL) wins over the document's ``id``;
    without either, the group is ``base``. Raises Invalid naming every bad field."""
    errors: list[Detail] = []
    out = GroupDoc(id="/")
    _parse(doc, base, group_id, "", errors, out)
    if errors:
        raise Invalid(errors)
    seen: dict[str, int] = {}
    for i, app in enumerate(out.apps):
        if app.id in seen:
            errors.append(Detail("/apps", [f"app {app.id} is given twice"]))
        if app.id in out.ids:
            errors.append(Detail("/apps", [f"{app.id} is both a group and an app"]))
        seen[app.id] = i
    if errors:
        raise Invalid(errors)
    return out


def _parse(
    doc: object,
    base: str,
    forced_id: str | None,
    path: str,
    errors: list[Detail],
    out: GroupDoc,
) -> None:
    if not isinstance(doc, dict):
        errors.append(Detail(path or "/", ["expected a JSON object (a group)"]))
        return
    raw = forced_id if forced_id is not None else doc.get("id", base if not path else None)
    if raw is None:
        errors.append(Detail(f"{path}/id", ["is required"]))
        return
    try:
        gid = normalize_group_id(raw, base, path=f"{path}/id")
    except Invalid as exc:
        errors.extend(exc.details)
        return
    if path and not is_under(gid, base):
        errors.append(Detail(f"{path}/id", [f"{gid} is not inside its parent group {base}"]))
    if not path:
        out.id = gid
    out.ids.append(gid)
    for key in doc:
        if key not in GROUP_KEYS:
            errors.append(Detail(f"{path}/{key}", ["unknown field"]))
    if doc.get("pods"):
        errors.append(Detail(f"{path}/pods", ["pods are not supported by corral"]))
    deps = doc.get("dependencies", [])
    if not isinstance(deps, list):
        errors.append(Detail(f"{path}/dependencies", ["expected an array of ids"]))
    else:
        resolved = []
        for i, d in enumerate(deps):
            try:
                resolved.append(normalize_id(d, gid, path=f"{path}/dependencies/{i}"))
            except Invalid as exc:
                errors.extend(exc.details)
        out.dependencies[gid] = resolved
    apps = doc.get("apps", [])
    if not isinstance(apps, list):
        errors.append(Detail(f"{path}/apps", ["expected an array of apps"]))
        apps = []
    for i, app_doc in enumerate(apps):
        where = f"{path}/apps/{i}"
        try:
            app = parse_app(app_doc, group=gid)
        except Invalid as exc:
            errors.extend(Detail(f"{where}{d.path.rstrip('/')}", d.errors) for d in exc.details)
            continue
        if not is_under(app.id, gid) or app.id == gid:
            errors.append(Detail(f"{where}/id", [f"{app.id} is not inside the group {gid}"]))
            continue
        out.apps.append(app)
    groups = doc.get("groups", [])
    if not isinstance(groups, list):
        errors.append(Detail(f"{path}/groups", ["expected an array of groups"]))
        groups = []
    for i, sub in enumerate(groups):
        _parse(sub, gid, None, f"{path}/groups/{i}", errors, out)


def render_group(
    group_id: str,
    apps: Sequence[Mapping[str, object]],
    *,
    version: str | None = None,
    dependencies: Mapping[str, Sequence[str]] | None = None,
    groups: Sequence[str] = (),
) -> dict[str, object]:
    """Marathon's group JSON for ``group_id`` from rendered apps (each with its ``id``):
    ``{id, apps, groups, pods: [], dependencies, version}``, with a subgroup for every
    path segment between the group and its apps. ``groups`` adds (empty) groups that hold
    no app; ``dependencies`` gives groups' own dependencies."""
    deps = dependencies or {}
    root = group_id.rstrip("/") or "/"

    def node(gid: str) -> dict[str, object]:
        n: dict[str, object] = {
            "id": gid,
            "apps": [],
            "groups": [],
            "pods": [],
            "dependencies": list(deps.get(gid, [])),
        }
        if version is not None:
            n["version"] = version
        return n

    top = node(root)
    nodes: dict[str, dict[str, object]] = {root: top}

    def group_node(gid: str) -> dict[str, object]:
        if gid in nodes:
            return nodes[gid]
        parent_id = gid.rsplit("/", 1)[0] or "/"
        parent = group_node(parent_id)
        n = node(gid)
        children = parent["groups"]
        assert isinstance(children, list)
        children.append(n)
        nodes[gid] = n
        return n

    for gid in sorted(groups):
        if gid != root and is_under(gid, root):
            group_node(gid)
    for app in sorted(apps, key=lambda a: str(a.get("id", ""))):
        app_id = str(app.get("id", ""))
        if not is_under(app_id, root) or app_id == root:
            continue
        parent = app_id.rsplit("/", 1)[0] or "/"
        bucket = group_node(parent)["apps"]
        assert isinstance(bucket, list)
        bucket.append(dict(app))
    return top


__all__ = ["GroupDoc", "parse_group", "render_group"]
