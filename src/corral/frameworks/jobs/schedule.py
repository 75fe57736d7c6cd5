"""Schedules: ISO 8601 repeating intervals (Chronos's ``R[n]/start/period``) and cron (pure).

Parsing is aniso8601's and croniter's; this module only does the arithmetic on top:

* ``R/start/period`` repeats forever, ``Rn/...`` n times (``R0``: never). An empty start
  means "now" (the submission time, filled in when the job is stored).
* Time zones: the start's own offset is used unless ``scheduleTimeZone`` names an IANA zone;
  then the start keeps its wall-clock fields in that zone (Chronos's re-zoning). The date part
  of a period (years, months, weeks, days) is added on the wall clock of that zone, the time
  part (hours, minutes, seconds) as elapsed time, so ``P1D`` stays at 02:00 across a DST
  change while ``PT24H`` moves by an hour on the wall. A wall-clock time that does not exist
  (the spring gap) runs at the same offset as before the change, i.e. an hour later.
* Cron (five fields, or six with seconds as croniter allows) in the zone (UTC by default).

Occurrence ``k`` of an ISO schedule is computed from the start each time (no drift, so
``P1M`` from Jan 31 gives Feb 28, then Mar 31).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aniso8601
from aniso8601.builders import TupleBuilder
from aniso8601.exceptions import ISOFormatError
from croniter import croniter


class ScheduleError(ValueError):
    """A schedule, time zone or duration that cannot be used; the message says why."""


def parse_zone(name: str) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc


def parse_duration(text: str) -> float:
    """An ISO 8601 duration in seconds (months count as 30 days, years as 365)."""
    try:
        d = aniso8601.parse_duration(text)
    except (ISOFormatError, ValueError, TypeError, NotImplementedError) as exc:
        raise ScheduleError(f"{text!r} is not an ISO 8601 duration (e.g. PT30S): {exc}") from exc
    if not isinstance(d, timedelta):
        raise ScheduleError(f"{text!r} is not an ISO 8601 duration")
    return d.total_seconds()


def _num(text: str | None) -> float:
    return float(text.replace(",", ".")) if text else 0.0


@dataclass(frozen=True)
class Period:
    months: int  # years * 12 + months, on the wall clock
    days: int  # weeks * 7 + days, on the wall clock
    seconds: float  # hours, minutes, seconds: elapsed time

    @property
    def approx_seconds(self) -> float:
        return self.months * 30.436875 * 86400 + self.days * 86400 + self.seconds

    @property
    def wall(self) -> bool:
        return bool(self.months or self.days)


def parse_period(text: str) -> Period:
    try:
        t = aniso8601.parse_duration(text, builder=TupleBuilder)
    except (ISOFormatError, ValueError, TypeError, NotImplementedError) as exc:
        raise ScheduleError(f"period {text!r} is not an ISO 8601 duration: {exc}") from exc
    years, months, weeks, days = (_num(v) for v in (t.PnY, t.PnM, t.PnW, t.PnD))
    for label, v in (("years", years), ("months", months), ("weeks", weeks), ("days", days)):
        if v != int(v):
            raise ScheduleError(f"period {text!r}: {label} must be a whole number")
    seconds = _num(t.TnH) * 3600 + _num(t.TnM) * 60 + _num(t.TnS)
    p = Period(int(years) * 12 + int(months), int(weeks) * 7 + int(days), seconds)
    if p.approx_seconds <= 0:
        raise ScheduleError(f"period {text!r} must be longer than zero")
    return p


def _add_months(dt: datetime, months: int) -> datetime:
    if not months:
        return dt
    index = dt.year * 12 + (dt.month - 1) + months
    year, month = divmod(index, 12)
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return dt.replace(year=year, month=month + 1, day=day)


def is_cron(text: str) -> bool:
    return not text.startswith("R") and len(text.split()) in (5, 6)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. ``next_at(t)`` is the first occurrence at or after ``t`` (a Unix
    timestamp), or None when there is no more."""

    text: str
    zone: tzinfo
    start: datetime | None = None  # ISO: aware, in ``zone``
    repeats: int | None = None  # ISO: None = forever
    period: Period | None = None
    cron: str = ""

    def occurrence(self, k: int) -> float:
        assert self.start is not None and self.period is not None
        p = self.period
        dt = self.start
        if p.wall:
            dt = _add_months(dt, p.months * k) + timedelta(days=p.days * k)
            # Aware arithmetic in one zone is on the wall clock; .timestamp() applies the
            # offset of that wall time (fold 0: the first of two, the earlier side of a gap).
        return dt.timestamp() + p.seconds * k

    def _index_at_or_after(self, t: float) -> int:
        assert self.start is not None and self.period is not None
        first = self.occurrence(0)
        if t <= first:
            return 0
        k = max(0, math.floor((t - first) / self.period.approx_seconds) - 1)
        while self.occurrence(k) < t:
            k += 1
        while k > 0 and self.occurrence(k - 1) >= t:
            k -= 1
        return k

    def next_at(self, t: float) -> float | None:
        if self.cron:
            base = datetime.fromtimestamp(t, self.zone) - timedelta(microseconds=1)
            it = croniter(self.cron, base)
            nxt: datetime = it.get_next(datetime)
            return nxt.timestamp()
        k = self._index_at_or_after(t)
        if self.repeats is not None and k >= self.repeats:
            return None
        return self.occurrence(k)

    def upcoming(self, t: float, n: int) -> list[float]:
        out: list[float] = []
        at: float | None = t
        while len(out) < n and at is not None:
            at = self.next_at(at)
            if at is not None:
                out.append(at)
                at += 0.001
        return out

    def between(self, after: float, until: float, limit: int) -> list[float]:
        """Occurrences in (after, until], at most ``limit`` (the earliest)."""
        out: list[float] = []
        at = self.next_at(after + 0.001)
        while at is not None and at <= until and len(out) < limit:
            out.append(at)
            at = self.next_at(at + 0.001)
        return out

    def count_between(self, after: float, until: float) -> int:
        """How many occurrences in (after, until] (exact for ISO, counted for cron)."""
        if self.cron:
            return len(self.between(after, until, 100_000))
        start = self.next_at(after + 0.001)
        if start is None or start > until:
            return 0
        k0 = self._index_at_or_after(start)
        k1 = self._index_at_or_after(until + 0.001)
        if self.repeats is not None:
            k1 = min(k1, self.repeats)
        return max(0, k1 - k0)


def parse_schedule(text: str, zone_name: str = "", *, now: float | None = None) -> Schedule:
    """Parse ``text`` (ISO repeating interval or cron) in ``zone_name``; ``now`` fills an
    empty start. Raises ``ScheduleError`` naming the part that is wrong."""
    text = text.strip()
    named = parse_zone(zone_name)
    if is_cron(text):
        if not croniter.is_valid(text):
            raise ScheduleError(f"{text!r} is not a valid cron expression")
        return Schedule(text=text, zone=named or UTC, cron=text)
    parts = text.split("/")
    if len(parts) != 3 or not parts[0].startswith("R"):
        raise ScheduleError(
            f"{text!r} is neither R[n]/start/period (ISO 8601, e.g. R/2026-01-01T00:00:00Z/PT1H)"
            " nor a cron expression (e.g. */5 * * * *)"
        )
    r, start_text, period_text = parts
    if r == "R":
        repeats = None
    elif r[1:].isdigit():
        repeats = int(r[1:])
    else:
        raise ScheduleError(f"{text!r}: repetitions {r!r} must be R or Rn (n a whole number)")
    period = parse_period(period_text)
    if start_text:
        try:
            start = aniso8601.parse_datetime(start_text)
        except (ISOFormatError, ValueError, TypeError, NotImplementedError) as exc:
            msg = f"{text!r}: start {start_text!r} is not a date and time: {exc}"
            raise ScheduleError(msg) from exc
    else:
        if now is None:
            raise ScheduleError(f"{text!r}: the start is empty")
        start = datetime.fromtimestamp(math.floor(now), UTC)
    if not isinstance(start, datetime):
        raise ScheduleError(f"{text!r}: start {start_text!r} is not a date and time")
    if named is not None:
        zone: tzinfo = named
        start = start.replace(tzinfo=named)  # keep the wall-clock fields (as Chronos)
    elif start.tzinfo is None:
        zone = UTC
        start = start.replace(tzinfo=UTC)
    else:
        zone = start.tzinfo
    if start.year < 1970:
        raise ScheduleError(f"{text!r}: the start is before 1970")
    return Schedule(text=text, zone=zone, start=start, repeats=repeats, period=period)


def iso(t: float | None) -> str:
    """A timestamp as ISO 8601 UTC with milliseconds (``""`` for None)."""
    if t is None:
        return ""
    ms = int(t * 1000) % 1000
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms:03d}Z"


def format_start(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "Period",
    "Schedule",
    "ScheduleError",
    "format_start",
    "is_cron",
    "iso",
    "parse_duration",
    "parse_period",
    "parse_schedule",
    "parse_zone",
]
