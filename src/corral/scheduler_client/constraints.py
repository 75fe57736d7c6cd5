"""Constraints on the hostname and agent attributes, with Marathon's operators (pure).

UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER and IS, as ``[field, OPERATOR, value?]``.
The field is ``hostname`` (or ``@hostname``) or an agent attribute; values compare as their
formatted strings, and an agent without the attribute fails every operator but UNLIKE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from corral.wire.common import Attribute

OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")
HOSTNAME_FIELDS = ("hostname", "@hostname")


@dataclass(frozen=True)
class Constraint:
    """``[field, OPERATOR, value?]`` as Marathon writes it."""

    field: str
    operator: str
    value: str | None = None

    def __post_init__(self) -> None:
        if not self.field:
            raise ValueError("constraint: the field is empty")
        if self.operator not in OPERATORS:
            raise ValueError(
                f"constraint {self.field}: unknown operator {self.operator!r} "
                f"(one of {', '.join(OPERATORS)})"
            )
        if self.operator in ("LIKE", "UNLIKE", "IS", "MAX_PER") and self.value is None:
            raise ValueError(f"constraint {self.field}:{self.operator} needs a value")
        if self.operator == "UNIQUE" and self.value is not None:
            raise ValueError(f"constraint {self.field}:UNIQUE takes no value")
        numeric = self.operator in ("MAX_PER", "GROUP_BY") and self.value is not None
        if numeric and not ((self.value or "").isdigit() and int(self.value or 0) >= 1):
            raise ValueError(
                f"constraint {self.field}:{self.operator}: {self.value!r} "
                "is not a positive whole number"
            )
        if self.operator in ("LIKE", "UNLIKE"):
            try:
                re.compile(self.value or "")
            except re.error as exc:
                raise ValueError(
                    f"constraint {self.field}:{self.operator}: bad regex {self.value!r}: {exc}"
                ) from None

    @classmethod
    def parse(cls, item: Sequence[str] | str) -> Constraint:
        """From ``["rack", "CLUSTER", "a"]`` or ``"rack:CLUSTER:a"``; ValueError says why."""
        parts = item.split(":", 2) if isinstance(item, str) else [str(p) for p in item]
        if len(parts) < 2 or len(parts) > 3:
            raise ValueError(f"constraint {item!r}: expected [field, OPERATOR, value?]")
        return cls(parts[0], parts[1].upper(), parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return ":".join(p for p in (self.field, self.operator, self.value) if p is not None)


@dataclass(frozen=True)
class Placed:
    """A task already running (or placed earlier in this call), for the constraints."""

    group: str
    agent_id: str
    hostname: str
    attributes: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------- attributes
def attribute_text(attr: Attribute | Mapping[str, object]) -> tuple[str, str] | None:
    """(name, value formatted as a string) of an offer attribute (struct or JSON object)."""
    if isinstance(attr, Attribute):
        name = attr.name
        if attr.text is not None:
            return name, attr.text.value
        if attr.scalar is not None:
            return name, format_number(attr.scalar.value)
        if attr.ranges is not None:
            return name, "[" + ",".join(f"{r.begin}-{r.end}" for r in attr.ranges.range) + "]"
        if attr.set is not None:
            return name, "{" + ",".join(attr.set.item) + "}"
        return None
    name = str(attr.get("name", ""))
    if not name:
        return None
    text = attr.get("text")
    if isinstance(text, Mapping):
        return name, str(text.get("value", ""))
    scalar = attr.get("scalar")
    if isinstance(scalar, Mapping):
        v = scalar.get("value", 0)
        return name, format_number(float(v) if isinstance(v, int | float | str) else 0.0)
    ranges = attr.get("ranges")
    if isinstance(ranges, Mapping):
        items = ranges.get("range", [])
        parts = [
            f"{r.get('begin')}-{r.get('end')}"
            for r in (items if isinstance(items, list) else [])
            if isinstance(r, Mapping)
        ]
        return name, "[" + ",".join(parts) + "]"
    set_ = attr.get("set")
    if isinstance(set_, Mapping):
        items = set_.get("item", [])
        return name, "{" + ",".join(
            str(i) for i in (items if isinstance(items, list) else [])
        ) + "}"
    return None


def format_number(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


# ---------------------------------------------------------------------- operators
def field_value(c_field: str, hostname: str, attributes: Mapping[str, str]) -> str | None:
    if c_field in HOSTNAME_FIELDS:
        return hostname
    return attributes.get(c_field.removeprefix("@"))


def _counts(c: Constraint, key: str, placed: Sequence[Placed]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in placed:
        if p.group != key:
            continue
        v = field_value(c.field, p.hostname, p.attributes)
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    return counts


def allows(
    c: Constraint,
    key: str,
    value: str | None,
    placed: Sequence[Placed],
    all_values: set[str],
) -> bool:
    if c.operator == "UNLIKE":
        return value is None or re.fullmatch(c.value or "", value) is None
    if value is None:
        return False
    if c.operator == "LIKE":
        return re.fullmatch(c.value or "", value) is not None
    if c.operator == "IS":
        return value == c.value
    counts = _counts(c, key, placed)
    if c.operator == "UNIQUE":
        return counts.get(value, 0) == 0
    if c.operator == "MAX_PER":
        return counts.get(value, 0) < int(c.value or "1")
    if c.operator == "CLUSTER":
        if c.value is not None:
            return value == c.value
        return not counts or value in counts
    # GROUP_BY: only where this value has no more tasks than the emptiest value.
    known = all_values | set(counts)
    least = min((counts.get(v, 0) for v in known), default=0)
    if c.value is not None and len(known) < int(c.value):
        least = 0  # a value no agent offers now still counts as empty
    return counts.get(value, 0) <= least


def rejection(c: Constraint, values: Sequence[str | None], before: int) -> str:
    """Why ``c`` left none of ``before`` agents (``values``: the field on each of them)."""
    if c.operator == "UNLIKE" or any(v is not None for v in values):
        if c.operator in ("CLUSTER", "IS") and c.value is not None and c.value not in values:
            return f"no agent has attribute {c.field}={c.value}"
        return f"{c} leaves 0 of {before} agent{'s' if before != 1 else ''}"
    if c.operator in ("CLUSTER", "IS") and c.value is not None:
        return f"no agent has attribute {c.field}={c.value}"
    return f"no agent has attribute {c.field}"


__all__ = [
    "HOSTNAME_FIELDS",
    "OPERATORS",
    "Constraint",
    "Placed",
    "allows",
    "attribute_text",
    "field_value",
    "format_number",
    "rejection",
]
