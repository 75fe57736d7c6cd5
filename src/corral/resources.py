"""Resource algebra: add, subtract, contain; and the ``cpus:4;ports:[31000-32000]`` syntax.

Pure and the most-tested module. A ``Resources`` value maps ``(name, role)`` to a scalar,
a list of inclusive integer ranges, or a set of strings. Scalars are kept at Mesos's fixed
point (three decimals) so repeated add/subtract never drifts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from corral.wire.common import Range, Ranges, Resource, Scalar, ValueSet

Key = tuple[str, str]  # (name, role)
RangeList = tuple[tuple[int, int], ...]

SCALAR_KINDS = ("cpus", "mem", "disk", "gpus")
UNRESERVED = "*"


class ResourceError(ValueError):
    """Resources that do not parse or make no sense; the message names the offending part."""


def _q(x: float) -> float:
    return round(x, 3)


def _normalize(ranges: Iterable[tuple[int, int]]) -> RangeList:
    out: list[tuple[int, int]] = []
    for b, e in sorted(ranges):
        if out and b <= out[-1][1] + 1:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((b, e))
    return tuple(out)


def _ranges_sub(a: RangeList, b: RangeList) -> RangeList:
    out: list[tuple[int, int]] = []
    for lo, hi in a:
        pieces = [(lo, hi)]
        for blo, bhi in b:
            nxt: list[tuple[int, int]] = []
            for plo, phi in pieces:
                if bhi < plo or blo > phi:
                    nxt.append((plo, phi))
                    continue
                if blo > plo:
                    nxt.append((plo, blo - 1))
                if bhi < phi:
                    nxt.append((bhi + 1, phi))
            pieces = nxt
        out.extend(pieces)
    return _normalize(out)


def _ranges_contain(a: RangeList, b: RangeList) -> bool:
    return all(any(lo <= blo and bhi <= hi for lo, hi in a) for blo, bhi in b)


def ranges_count(r: RangeList) -> int:
    return sum(e - b + 1 for b, e in r)


@dataclass(frozen=True)
class Resources:
    scalars: dict[Key, float] = field(default_factory=dict)
    ranges: dict[Key, RangeList] = field(default_factory=dict)
    sets: dict[Key, frozenset[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ algebra
    def __add__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            scalars[k] = _q(scalars.get(k, 0.0) + v)
        ranges = dict(self.ranges)
        for k, r in other.ranges.items():
            ranges[k] = _normalize(ranges.get(k, ()) + r)
        sets = dict(self.sets)
        for k, s in other.sets.items():
            sets[k] = sets.get(k, frozenset()) | s
        return Resources(scalars, ranges, sets)

    def __sub__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            left = _q(scalars.get(k, 0.0) - v)
            if left > 0:
                scalars[k] = left
            else:
                scalars.pop(k, None)
        ranges = dict(self.ranges)
        for k, r in other.ranges.items():
            if k in ranges:
                left_r = _ranges_sub(ranges[k], r)
                if left_r:
                    ranges[k] = left_r
                else:
                    del ranges[k]
        sets = dict(self.sets)
        for k, s in other.sets.items():
            if k in sets:
                left_s = sets[k] - s
                if left_s:
                    sets[k] = left_s
                else:
                    del sets[k]
        return Resources(scalars, ranges, sets)

    def contains(self, other: Resources) -> bool:
        """True when ``other`` fits inside ``self`` (role by role)."""
        for k, v in other.scalars.items():
            if _q(self.scalars.get(k, 0.0) - v) < 0:
                return False
        for k, r in other.ranges.items():
            if not _ranges_contain(self.ranges.get(k, ()), r):
                return False
        return all(s <= self.sets.get(k, frozenset()) for k, s in other.sets.items())

    def is_empty(self) -> bool:
        return not (
            any(v > 0 for v in self.scalars.values()) or any(self.ranges.values()) or self.sets
        )

    def __bool__(self) -> bool:
        return not self.is_empty()

    # ------------------------------------------------------------------ views
    def scalar(self, name: str) -> float:
        """Total of a scalar across roles."""
        return _q(sum(v for (n, _), v in self.scalars.items() if n == name))

    def port_ranges(self) -> RangeList:
        return _normalize(r for (n, _), rs in self.ranges.items() if n == "ports" for r in rs)

    def for_role(self, role: str) -> Resources:
        """What a framework in ``role`` may be offered: unreserved plus reserved for ``role``."""
        ok = {UNRESERVED, role}
        return Resources(
            {k: v for k, v in self.scalars.items() if k[1] in ok},
            {k: v for k, v in self.ranges.items() if k[1] in ok},
            {k: v for k, v in self.sets.items() if k[1] in ok},
        )

    def names(self) -> set[str]:
        return {k[0] for k in (*self.scalars, *self.ranges, *self.sets)}

    def roles(self) -> set[str]:
        return {k[1] for k in (*self.scalars, *self.ranges, *self.sets)}

    def __iter__(self) -> Iterator[Key]:
        yield from self.scalars
        yield from self.ranges
        yield from self.sets

    # ------------------------------------------------------------------ conversions
    def to_wire(self, allocation_role: str | None = None) -> list[Resource]:
        out: list[Resource] = []
        alloc = {"role": allocation_role} if allocation_role else None
        for (name, role), v in sorted(self.scalars.items()):
            if v > 0:
                out.append(_wire(name, role, "SCALAR", alloc, scalar=Scalar(value=v)))
        for (name, role), r in sorted(self.ranges.items()):
            rr = Ranges(range=[Range(begin=b, end=e) for b, e in r])
            out.append(_wire(name, role, "RANGES", alloc, ranges=rr))
        for (name, role), s in sorted(self.sets.items()):
            out.append(_wire(name, role, "SET", alloc, set_=ValueSet(item=sorted(s))))
        return out

    def to_legacy(self) -> dict[str, float | str]:
        """The ``/master/state`` shape: one object; ranges as ``"[a-b]"`` strings."""
        out: dict[str, float | str] = {k: self.scalar(k) for k in SCALAR_KINDS}
        for name in sorted({n for n, _ in self.scalars} - set(SCALAR_KINDS)):
            out[name] = self.scalar(name)
        for name in sorted({n for n, _ in self.ranges}):
            r = _normalize(x for (n, _), rs in self.ranges.items() if n == name for x in rs)
            out[name] = "[" + ",".join(f"{b}-{e}" for b, e in r) + "]"
        for name in sorted({n for n, _ in self.sets}):
            items = sorted({x for (n, _), s in self.sets.items() if n == name for x in s})
            out[name] = "{" + ",".join(items) + "}"
        return out

    def __str__(self) -> str:
        parts: list[str] = []
        for (name, role), v in sorted(self.scalars.items()):
            parts.append(f"{_label(name, role)}:{_num(v)}")
        for (name, role), r in sorted(self.ranges.items()):
            parts.append(f"{_label(name, role)}:[" + ",".join(f"{b}-{e}" for b, e in r) + "]")
        for (name, role), s in sorted(self.sets.items()):
            parts.append(f"{_label(name, role)}:{{" + ",".join(sorted(s)) + "}")
        return ";".join(parts)


def _num(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


def _label(name: str, role: str) -> str:
    return name if role == UNRESERVED else f"{name}({role})"


def _wire(
    name: str,
    role: str,
    type_: str,
    alloc: dict[str, str] | None,
    scalar: Scalar | None = None,
    ranges: Ranges | None = None,
    set_: ValueSet | None = None,
) -> Resource:
    from corral.wire.common import AllocationInfo, ReservationInfo

    res = Resource(name=name, type=type_, scalar=scalar, ranges=ranges, set=set_)
    if role != UNRESERVED:
        res.role = role
        res.reservations = [ReservationInfo(type="STATIC", role=role)]
    if alloc:
        res.allocation_info = AllocationInfo(role=alloc["role"])
    return res


def scalars(**kw: float) -> Resources:
    """Unreserved scalars, e.g. ``scalars(cpus=1, mem=128)``."""
    return Resources({(k, UNRESERVED): _q(float(v)) for k, v in kw.items() if v})


def from_wire(items: Iterable[Resource], *, field_name: str = "resources") -> Resources:
    """Convert wire resources; a ResourceError names the offending entry."""
    out = Resources()
    for i, r in enumerate(items):
        where = f"{field_name}[{i}]"
        role = _role_of(r)
        key = (r.name, role)
        if not r.name:
            raise ResourceError(f"{where}.name is empty")
        kind = r.type or (
            "SCALAR"
            if r.scalar is not None
            else "RANGES"
            if r.ranges is not None
            else "SET"
            if r.set is not None
            else ""
        )
        if kind == "SCALAR":
            if r.scalar is None:
                raise ResourceError(f"{where} ({r.name}) is SCALAR but has no 'scalar'")
            v = r.scalar.value
            if v != v or v < 0 or v == float("inf"):
                raise ResourceError(f"{where} ({r.name}) has invalid value {v}")
            out = out + Resources({key: _q(v)})
        elif kind == "RANGES":
            if r.ranges is None:
                raise ResourceError(f"{where} ({r.name}) is RANGES but has no 'ranges'")
            rl = []
            for rg in r.ranges.range:
                if rg.begin > rg.end or rg.begin < 0:
                    raise ResourceError(f"{where} ({r.name}) has bad range {rg.begin}-{rg.end}")
                rl.append((rg.begin, rg.end))
            out = out + Resources(ranges={key: _normalize(rl)})
        elif kind == "SET":
            if r.set is None:
                raise ResourceError(f"{where} ({r.name}) is SET but has no 'set'")
            out = out + Resources(sets={key: frozenset(r.set.item)})
        else:
            raise ResourceError(f"{where} ({r.name}) has unknown type {r.type!r}")
    return out


def _role_of(r: Resource) -> str:
    if r.reservations:
        return r.reservations[-1].role or UNRESERVED
    return r.role or UNRESERVED


_ITEM = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(?:\(\s*([^)]*)\s*\))?\s*:\s*(.+?)\s*$")


def parse(text: str, *, default_role: str = UNRESERVED) -> Resources:
    """Parse Mesos's ``--resources`` syntax or a JSON array of Resource objects."""
    text = text.strip()
    if not text:
        return Resources()
    if text.startswith("["):
        from corral.wire.codec import WireError, decode

        try:
            return from_wire(decode(text, list[Resource]))
        except WireError as exc:
            raise ResourceError(f"resources JSON: {exc}") from None
    out = Resources()
    for part in text.split(";"):
        if not part.strip():
            continue
        m = _ITEM.match(part)
        if not m:
            raise ResourceError(f"cannot parse resource {part.strip()!r} (expected name:value)")
        name, role, value = m.group(1), (m.group(2) or "").strip() or default_role, m.group(3)
        key = (name, role)
        if value.startswith("["):
            if not value.endswith("]"):
                raise ResourceError(f"resource {name}: unterminated range list {value!r}")
            rl = []
            for piece in value[1:-1].split(","):
                piece = piece.strip()
                if not piece:
                    continue
                lo, sep, hi = piece.partition("-")
                try:
                    b, e = int(lo), int(hi if sep else lo)
                except ValueError:
                    raise ResourceError(f"resource {name}: bad range {piece!r}") from None
                if b > e or b < 0:
                    raise ResourceError(f"resource {name}: bad range {piece!r}")
                rl.append((b, e))
            out = out + Resources(ranges={key: _normalize(rl)})
        elif value.startswith("{"):
            if not value.endswith("}"):
                raise ResourceError(f"resource {name}: unterminated set {value!r}")
            items = frozenset(x.strip() for x in value[1:-1].split(",") if x.strip())
            out = out + Resources(sets={key: items})
        else:
            try:
                v = float(value)
            except ValueError:
                raise ResourceError(f"resource {name}: {value!r} is not a number") from None
            if v != v or v < 0 or v == float("inf"):
                raise ResourceError(f"resource {name}: {value!r} must be a non-negative number")
            out = out + Resources({key: _q(v)})
    return out


def parse_attributes(text: str) -> dict[str, str | float]:
    """``rack:a;zone:eu;level:3`` -> {"rack": "a", "zone": "eu", "level": 3.0}."""
    out: dict[str, str | float] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ResourceError(f"cannot parse attribute {part.strip()!r} (expected name:value)")
        if value.startswith("{"):
            raise ResourceError(f"attribute {name}: sets are not allowed")
        try:
            out[name] = float(value)
        except ValueError:
            out[name] = value
    return out
