"""The Tasks page's query: filter and page the master's tasks without copying them (pure).

A ``TaskQuery`` is parsed from the page's query string (bad input: a message naming the
field). ``select`` walks groups of records — active, unreachable and completed tasks of each
framework, or only one framework's, or only one agent's active tasks when the query allows —
counts the matches and keeps only the page asked for, so a page of 50 rows out of 100,000
tasks costs one pass of cheap comparisons and 50 renders. Records are read, never changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

GROUPS = ("active", "unreachable", "completed")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class TaskInfoLike(Protocol):
    @property
    def name(self) -> str: ...


class TaskLike(Protocol):
    @property
    def framework_id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def info(self) -> TaskInfoLike: ...
    @property
    def task_id(self) -> str: ...


@dataclass(frozen=True)
class TaskQuery:
    state: str = ""  # a TASK_* state, or a group: active, unreachable, completed; "": all
    framework: str = ""  # a framework id
    agent: str = ""  # an agent id
    name: str = ""  # a substring of the task's name or id, case-insensitive
    offset: int = 0
    limit: int = DEFAULT_LIMIT

    @property
    def group(self) -> str:
        return self.state if self.state in GROUPS else ""

    @property
    def exact_state(self) -> str:
        return "" if self.state in GROUPS else self.state


@dataclass(frozen=True)
class Page:
    total: int  # tasks matching the filters
    offset: int
    limit: int
    rows: list[tuple[str, TaskLike]]  # (group, record), at most ``limit``


def parse_query(params: Mapping[str, str]) -> TaskQuery | str:
    """The query, or a message naming the field that is wrong."""
    state = params.get("state", "").strip()
    if (
        state
        and state not in GROUPS
        and not (
            state.startswith("TASK_") and state[5:].replace("_", "").isalpha() and state.isupper()
        )
    ):
        return f"'state' must be a TASK_* state or one of {', '.join(GROUPS)}, not {state!r}"
    ints: dict[str, int] = {}
    for field_name, default, low, high in (
        ("offset", 0, 0, None),
        ("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    ):
        raw = params.get(field_name, "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            return f"'{field_name}' must be an integer, not {raw!r}"
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            return f"'{field_name}' must be {bound}, not {value}"
        ints[field_name] = value
    return TaskQuery(
        state=state,
        framework=params.get("framework", "").strip(),
        agent=params.get("agent", "").strip(),
        name=params.get("name", "").strip().lower(),
        offset=ints["offset"],
        limit=ints["limit"],
    )


def matches(q: TaskQuery, t: TaskLike) -> bool:
    if q.framework and t.framework_id != q.framework:
        return False
    if q.agent and t.agent_id != q.agent:
        return False
    if q.exact_state and t.state != q.exact_state:
        return False
    return not q.name or q.name in t.info.name.lower() or q.name in t.task_id.lower()


def select(
    groups: Iterable[tuple[str, Sequence[TaskLike] | Iterable[TaskLike], int]],
    q: TaskQuery,
) -> Page:
    """Page ``q`` out of ``groups``: (group name, its records, how many there are).

    Groups the query's ``group`` excludes are skipped whole; with no other filter a group is
    counted by its length and only the page is read from it."""
    rows: list[tuple[str, TaskLike]] = []
    total = 0
    start, stop = q.offset, q.offset + q.limit
    filtered = bool(q.framework or q.agent or q.exact_state or q.name)
    for group, records, size in groups:
        if q.group and group != q.group:
            continue
        if not filtered:
            if total + size > start and len(rows) < q.limit:
                skip = max(0, start - total)
                want = q.limit - len(rows)
                rows.extend((group, t) for t in islice(records, skip, skip + want))
            total += size
            continue
        for t in records:
            if matches(q, t):
                if start <= total < stop:
                    rows.append((group, t))
                total += 1
    return Page(total=total, offset=q.offset, limit=q.limit, rows=rows)
