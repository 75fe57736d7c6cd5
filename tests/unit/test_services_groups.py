"""Group documents: apps resolved relative to their groups, errors by path, the tree out."""

from __future__ import annotations

import collections
import collections.abc
import json

import pytest

from corral.frameworks.services.codec import Invalid, render_app
from corral.frameworks.services.groups import parse_group, render_group

collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]
from marathon.models.group import MarathonGroup  # noqa: E402

DOC = {
    "id": "/shop",
    "dependencies": ["/infra"],
    "apps": [{"id": "web", "cmd": "serve", "dependencies": ["db/pg"]}],
    "groups": [
        {
            "id": "db",
            "apps": [{"id": "pg", "cmd": "postgres"}, {"id": "/shop/db/cache", "cmd": "redis"}],
        },
        {"id": "/shop/jobs", "dependencies": ["../db"]},
    ],
}


def test_apps_resolve_relative_to_their_groups() -> None:
    g = parse_group(DOC)
    assert g.id == "/shop"
    assert [a.id for a in g.apps] == ["/shop/web", "/shop/db/pg", "/shop/db/cache"]
    assert g.apps[0].dependencies == ["/shop/db/pg"]
    assert g.ids == ["/shop", "/shop/db", "/shop/jobs"]
    assert g.dependencies == {"/shop": ["/infra"], "/shop/db": [], "/shop/jobs": ["/shop/db"]}


def test_group_id_from_url_and_base() -> None:
    assert parse_group({"apps": [{"id": "a", "cmd": "x"}]}, group_id="/t").apps[0].id == "/t/a"
    assert parse_group({"apps": [{"id": "a", "cmd": "x"}]}).id == "/"
    assert parse_group({"id": "x", "apps": []}, base="/team").id == "/team/x"


def test_errors_name_the_path_in_the_tree() -> None:
    bad = {
        "id": "/shop",
        "apps": [{"id": "web", "cpus": -1}],
        "groups": [{"id": "db", "apps": [{"id": "PG", "cmd": "x"}]}, {"id": "/elsewhere"}],
        "pods": [{"id": "p"}],
        "extra": 1,
    }
    with pytest.raises(Invalid) as info:
        parse_group(bad)
    paths = {d.path for d in info.value.details}
    assert {
        "/apps/0/cpus",
        "/apps/0",
        "/groups/0/apps/0/id",
        "/groups/1/id",
        "/pods",
        "/extra",
    } <= paths
    with pytest.raises(Invalid) as info:
        parse_group({"id": "/g", "apps": [{"id": "a", "cmd": "x"}, {"id": "/g/a", "cmd": "y"}]})
    assert "given twice" in str(info.value)
    with pytest.raises(Invalid):
        parse_group([1])


def test_render_tree_goes_through_the_client() -> None:
    g = parse_group(DOC)
    tree = render_group(
        "/",
        [render_app(a) for a in g.apps],
        version="2026-01-01T00:00:00.000Z",
        dependencies=g.dependencies,
        groups=g.ids,
    )
    assert tree["id"] == "/" and tree["apps"] == [] and tree["pods"] == []
    assert "enforceRole" not in json.dumps(tree)
    (shop,) = tree["groups"]  # type: ignore[misc]
    assert shop["id"] == "/shop" and shop["dependencies"] == ["/infra"]
    assert [a["id"] for a in shop["apps"]] == ["/shop/web"]
    assert [s["id"] for s in shop["groups"]] == ["/shop/db", "/shop/jobs"]
    assert [a["id"] for a in shop["groups"][0]["apps"]] == ["/shop/db/cache", "/shop/db/pg"]
    client = MarathonGroup.from_json(json.loads(json.dumps(tree)))
    assert client.groups[0].groups[0].apps[0].id == "/shop/db/cache"
    sub = render_group("/shop/db", [render_app(a) for a in g.apps])
    assert sub["id"] == "/shop/db" and len(sub["apps"]) == 2  # type: ignore[arg-type]
    assert "version" not in sub
