"""The dependency graph of jobs: parents, children, cycles, deletion (pure).

``Graph`` keeps both directions in memory (the parents of each job and its children), so a
parent's success finds its children at once and ``/scheduler/graph/*`` never scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class GraphError(ValueError):
    """A dependency that cannot be: an unknown parent or a cycle (the message says which)."""


class Graph:
    def __init__(self) -> None:
        self.parents: dict[str, tuple[str, ...]] = {}
        self.children: dict[str, set[str]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.parents

    def check(self, name: str, parents: Iterable[str]) -> None:
        """Would ``name`` with ``parents`` keep the graph a DAG of known jobs?"""
        ps = list(parents)
        for p in ps:
            if p not in self.parents:
                raise GraphError(f"parents: no job named {p!r}")
        # A cycle: some parent is (a descendant of) ``name``.
        for p in ps:
            path = self._path(name, p)
            if path is not None:
                cycle = " → ".join([*path, name])
                raise GraphError(f"parents: {name!r} depending on {p!r} makes a cycle: {cycle}")

    def _path(self, src: str, dst: str) -> list[str] | None:
        """A path of child links from ``src`` to ``dst`` (names in order), if any."""
        if src == dst:
            return [src]
        stack: list[tuple[str, list[str]]] = [(src, [src])]
        seen = {src}
        while stack:
            node, path = stack.pop()
            for c in sorted(self.children.get(node, ())):
                if c == dst:
                    return [*path, c]
                if c not in seen:
                    seen.add(c)
                    stack.append((c, [*path, c]))
        return None

    def put(self, name: str, parents: Iterable[str]) -> None:
        for old in self.parents.get(name, ()):
            self.children.get(old, set()).discard(name)
        ps = tuple(parents)
        self.parents[name] = ps
        self.children.setdefault(name, set())
        for p in ps:
            self.children.setdefault(p, set()).add(name)

    def remove(self, name: str) -> None:
        for p in self.parents.pop(name, ()):
            self.children.get(p, set()).discard(name)
        for c in self.children.pop(name, set()):
            self.parents[c] = tuple(x for x in self.parents.get(c, ()) if x != name)

    def edges(self) -> list[tuple[str, str]]:
        return sorted((p, c) for c, ps in self.parents.items() for p in ps)

    def descendants(self, name: str) -> list[str]:
        out: list[str] = []
        seen = {name}
        stack = [name]
        while stack:
            for c in sorted(self.children.get(stack.pop(), ())):
                if c not in seen:
                    seen.add(c)
                    out.append(c)
                    stack.append(c)
        return out


def rewire_on_delete(
    name: str, parents: tuple[str, ...], schedule: str, graph: Graph
) -> Mapping[str, tuple[tuple[str, ...], str]]:
    """What each child of a deleted job becomes (Chronos's rule): the child of a dependent job
    inherits its parents; the child of a scheduled job left without parents takes that job's
    schedule. Returns child -> (new parents, new schedule or "")."""
    out: dict[str, tuple[tuple[str, ...], str]] = {}
    for child in sorted(graph.children.get(name, ())):
        rest = [p for p in graph.parents.get(child, ()) if p != name]
        if parents:
            new = tuple(dict.fromkeys([*rest, *parents]))
            out[child] = (new, "")
        elif rest:
            out[child] = (tuple(rest), "")
        else:
            out[child] = ((), schedule)
    return out


__all__ = ["Graph", "GraphError", "rewire_on_delete"]
