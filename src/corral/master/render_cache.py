"""Each record's JSON, encoded once: with 100,000 tasks on 10,000 agents, ``/master/state``
and ``GET_TASKS`` mostly copy bytes. Owned by the views (the shell), not by the records."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from operator import is_
from typing import Generic, TypeVar

import msgspec

from corral.wire.codec import encode

R = TypeVar("R")

# record, its change key when encoded, its JSON
_Entry = tuple[R, tuple[object, ...], msgspec.Raw]


class RenderCache(Generic[R]):
    """One view of each record (``render(record)``, encoded), reused while every part of the
    record's ``change_key`` is the same object as when it was encoded. Records replace the
    values that change (statuses, Resources, usage) rather than mutate them, so identity says
    whether the JSON is still right.

    An entry holds its record, so ``id(record)`` names it exactly while it is cached; a
    ``full_pass`` (a render of every record) keeps only the entries it used, so records the
    master dropped are forgotten at the next full render."""

    def __init__(
        self, render: Callable[[R], object], change_key: Callable[[R], tuple[object, ...]]
    ) -> None:
        self.render = render
        self.change_key = change_key
        self._entries: dict[int, _Entry[R]] = {}
        self._live: dict[int, _Entry[R]] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, record: R) -> msgspec.Raw:
        return self.get_many((record,))[0]

    def get_many(self, records: Iterable[R]) -> list[msgspec.Raw]:
        """The JSON of each record, in order (the loop of a large view: names bound once)."""
        entries, live, change_key, render = self._entries, self._live, self.change_key, self.render
        out = []
        for record in records:
            rid = id(record)
            key = change_key(record)
            hit = entries.get(rid)
            if hit is None or not all(map(is_, hit[1], key)):
                hit = entries[rid] = (record, key, msgspec.Raw(encode(render(record))))
            if live is not None:
                live[rid] = hit
            out.append(hit[2])
        return out

    @contextlib.contextmanager
    def full_pass(self) -> Iterator[None]:
        """Around a render of every record: afterwards only the records it rendered stay.
        A pass inside a pass is part of the outer one."""
        if self._live is not None:
            yield
            return
        live: dict[int, _Entry[R]] = {}
        self._live = live
        try:
            yield
        finally:
            self._live = None
        self._entries = live
