"""Torque's array syntax, ``-t 1-100%5``: which indices, and how many may run at once (pure)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_ELEMENTS = 100_000


@dataclass(frozen=True)
class ArraySpec:
    indices: tuple[int, ...]
    limit: int | None = None  # at most this many elements running at once; None: no limit


def _whole(text: str, what: str) -> int:
    text = text.strip()
    if not text or not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        raise ValueError(f"{what} {text!r} is not a whole number")
    return int(text)


def parse_array(text: str) -> ArraySpec:
    """``1-100``, ``0-9%2``, ``1,3,5-7``, ``1-10:2`` (a step) -> the indices, sorted and
    unique, and the limit after ``%``. ``ValueError`` says what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("empty range (expected e.g. 1-100 or 1-100%5)")
    body, pct, limit_text = text.partition("%")
    limit: int | None = None
    if pct:
        limit = _whole(limit_text, "the limit after %:")
        if limit < 1:
            raise ValueError(f"the limit after % must be at least 1, got {limit}")
    seen: set[int] = set()
    for part in body.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"{text!r}: an empty item between commas")
        rng, colon, step_text = part.partition(":")
        step = 1
        if colon:
            step = _whole(step_text, f"{part!r}: the step")
            if step < 1:
                raise ValueError(f"{part!r}: the step must be at least 1")
        if "-" in rng[1:]:
            cut = rng.index("-", 1)
            lo = _whole(rng[:cut], f"{part!r}: the start")
            hi = _whole(rng[cut + 1 :], f"{part!r}: the end")
        else:
            lo = hi = _whole(rng, "index")
            if colon:
                raise ValueError(f"{part!r}: a step needs a range (e.g. 1-10:2)")
        if lo < 0:
            raise ValueError(f"{part!r}: indices start at 0")
        if hi < lo:
            raise ValueError(f"{part!r}: the end {hi} is below the start {lo}")
        if (hi - lo) // step + 1 + len(seen) > MAX_ELEMENTS:
            raise ValueError(f"{text!r}: more than {MAX_ELEMENTS} elements")
        seen.update(range(lo, hi + 1, step))
    return ArraySpec(tuple(sorted(seen)), limit)


def format_array(spec: ArraySpec) -> str:
    """The indices back as ranges (``1-5,7``), with ``%P``."""
    parts: list[str] = []
    idx = list(spec.indices)
    i = 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        parts.append(str(idx[i]) if i == j else f"{idx[i]}-{idx[j]}")
        i = j + 1
    out = ",".join(parts)
    return out + (f"%{spec.limit}" if spec.limit is not None else "")


__all__ = ["MAX_ELEMENTS", "ArraySpec", "format_array", "parse_array"]
