"""The layout rules of docs/architecture.md, checked by reading the source (no imports run).

* no import cycle between modules of ``corral`` (imports under ``if TYPE_CHECKING:`` aside);
* no free function whose first parameter is ``self`` (a method in disguise);
* a ``_private`` name is used only in the module that defines it;
* the master and agent cores import no I/O: no asyncio, aiohttp, time, threading, socket,
  kazoo or docker, directly or through the corral modules they import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
CORES = ("corral.master.core", "corral.agent.core")
BANNED_IN_CORES = {
    "asyncio",
    "aiohttp",
    "time",
    "threading",
    "socket",
    "kazoo",
    "docker",
    "uvloop",
    "subprocess",
    "concurrent",
}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    is_package: bool
    imports: set[str] = field(default_factory=set)  # corral modules imported at run time
    external: set[str] = field(default_factory=set)  # top-level names of other imports


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                out.update(id(n) for n in ast.walk(inner))
    return out


def _load() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(SRC.rglob("*.py")):
        name, is_package = _module_name(path)
        modules[name] = Module(name, path, ast.parse(path.read_text()), is_package)
    for mod in modules.values():
        skip = _type_checking_nodes(mod.tree)
        for node in ast.walk(mod.tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    _add_import(mod, alias.name, modules)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    _add_import(mod, full if full in modules else base, modules)
    return modules


def _resolve(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = mod.name.split(".")
    if not mod.is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _add_import(mod: Module, name: str, modules: dict[str, Module]) -> None:
    if name == "corral" or name.startswith("corral."):
        # Importing a.b.c runs a/__init__ and a/b/__init__ too.
        parts = name.split(".")
        for i in range(2, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in modules and prefix != mod.name:
                mod.imports.add(prefix)
    else:
        mod.external.add(name.split(".")[0])


MODULES = _load()


def _cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(modules[root].imports)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(modules[w].imports))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_cycles() -> None:
    # A package's __init__ importing its own submodules is not a cycle of ideas; everything
    # else is.
    graph = {
        name: Module(
            m.name,
            m.path,
            m.tree,
            m.is_package,
            {i for i in m.imports if not (m.is_package and i.startswith(name + "."))},
        )
        for name, m in MODULES.items()
    }
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    empty = ast.Module(body=[], type_ignores=[])
    graph = {
        "a": Module("a", Path("a"), empty, False, {"b"}),
        "b": Module("b", Path("b"), empty, False, {"c"}),
        "c": Module("c", Path("c"), empty, False, {"a"}),
        "d": Module("d", Path("d"), empty, False, {"a"}),
    }
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_free_function_takes_self() -> None:
    offenders = [
        f"{m.name}.{node.name}"
        for m in MODULES.values()
        for node in m.tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.args.args
        and node.args.args[0].arg == "self"
    ]
    assert offenders == []


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _external_names(tree: ast.Module) -> set[str]:
    """Names bound to modules from outside corral (``os._exit`` is the standard library's
    business, not ours)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(
                (a.asname or a.name).split(".")[0]
                for a in node.names
                if not a.name.startswith("corral")
            )
        elif isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("corral"):
            out.update(a.asname or a.name for a in node.names)
    return out


def _private_offenders(modules: dict[str, Module]) -> list[str]:
    offenders = []
    for m in modules.values():
        local = _defined_names(m.tree)
        external = _external_names(m.tree)
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("corral"):
                offenders += [
                    f"{m.name}:{node.lineno} imports {a.name}"
                    for a in node.names
                    if _private(a.name)
                ]
            elif (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and node.attr not in local
                and ast.unparse(node.value).split(".")[0] not in external
            ):
                offenders.append(f"{m.name}:{node.lineno} uses {ast.unparse(node)[:60]}")
    return offenders


def test_private_names_stay_in_their_module() -> None:
    assert _private_offenders(MODULES) == []


def test_private_name_finder_finds_a_use() -> None:
    owner = ast.parse("class Box:\n    def __init__(self):\n        self._secret = 1\n")
    user = ast.parse(
        "import os\nfrom corral.box import _helper\n"
        "def peek(box):\n    os._exit(0)\n    return box._secret\n"
    )
    modules = {
        "corral.box": Module("corral.box", Path("box.py"), owner, False),
        "corral.user": Module("corral.user", Path("user.py"), user, False),
    }
    assert _private_offenders(modules) == [
        "corral.user:2 imports _helper",
        "corral.user:5 uses box._secret",
    ]


def _closure(name: str) -> set[str]:
    seen = {name}
    todo = [name]
    while todo:
        for dep in MODULES[todo.pop()].imports:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("core", CORES)
def test_cores_import_no_io(core: str) -> None:
    if core not in MODULES:
        pytest.fail(f"{core} is missing: the architecture puts the core there")
    members = [n for n in MODULES if n == core or n.startswith(core + ".")]
    problems = []
    for member in members:
        for dep in sorted(_closure(member)):
            bad = MODULES[dep].external & BANNED_IN_CORES
            if bad:
                problems.append(f"{member} -> {dep} imports {sorted(bad)}")
    assert problems == []
