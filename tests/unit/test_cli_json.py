"""Every CLI command that prints a table also has `--json` (issue 16): found by walking the
`corral` command tree and reading each command's source (and that of the helpers it names)
for a rich ``Table``."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from corral.cli import status_command
from corral.cli.main import app
from corral.deploy import run as deploy_run

# Commands whose table is printed by a helper of another module, not their own source.
INDIRECT = {("deploy",): deploy_run.deploy, ("status",): status_command.show}


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    if hasattr(group, "commands"):
        for name, cmd in group.commands.items():
            out += commands(cmd, (*path, name))
    else:
        out.append((path, group))
    return out


def prints_table(path: tuple[str, ...], cmd: Any) -> bool:
    callback = cmd.callback
    if callback is None:
        return False
    sources = [inspect.getsource(callback)]
    if path in INDIRECT:
        sources.append(inspect.getsource(INDIRECT[path]))
    return any("Table(" in s for s in sources)


def test_every_table_has_json() -> None:
    tree = typer.main.get_command(app)
    tabled = [(p, c) for p, c in commands(tree) if prints_table(p, c)]
    names = {" ".join(p) for p, _ in tabled}
    assert {"agents", "tasks", "frameworks", "status", "deploy", "maintenance status"} <= names
    missing = [" ".join(p) for p, c in tabled if not any("--json" in prm.opts for prm in c.params)]
    assert not missing, f"commands printing a table without --json: {missing}"
