"""The master core is pure: no module it imports (directly or through other corral modules)
imports asyncio, aiohttp, time, threading, socket, kazoo or docker."""

from __future__ import annotations

import ast
from pathlib import Path

import corral

FORBIDDEN = {"asyncio", "aiohttp", "time", "threading", "socket", "kazoo", "docker", "concurrent"}
SRC = Path(corral.__file__).parent.parent


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_of(path: Path, package: str) -> set[str]:
    out: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts)
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # submodules imported by name
    return out


def closure(root: str) -> dict[str, str]:
    """Every module reachable from ``root`` -> the corral module that first imports it."""
    seen: dict[str, str] = {root: ""}
    todo = [root]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None:
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imp in imports_of(path, package):
            if imp in seen:
                continue
            if imp.startswith("corral"):
                if module_file(imp) is None:
                    continue  # a name imported from a module, not a module
                seen[imp] = name
                todo.append(imp)
            else:
                seen[imp] = name
    return seen


def test_master_core_imports_no_io() -> None:
    reached = closure("corral.master.core")
    bad = {m: by for m, by in reached.items() if m.split(".")[0] in FORBIDDEN}
    assert bad == {}, f"imported (module: by whom): {bad}"


def test_the_check_sees_forbidden_imports() -> None:
    reached = closure("corral.master.shell")
    assert "asyncio" in reached and "time" in reached
