"""Pure rules of the run-time log level: Mesos's glog verbosity mapped to Python's levels,
Mesos's duration strings, and what ``/logging/toggle`` does (a level until a deadline, then
the configured one again).

glog verbosity → Python level (``GLOG_TO_PYTHON``)::

    0 → INFO (20)    the default verbosity
    1 → DEBUG (10)
    2 → TRACE (5)    below DEBUG; corral logs little there
    3 and more → 1   everything

Read back (``GET_LOGGING_LEVEL``), a Python level becomes the most verbose glog level it
still covers: WARNING or ERROR report 0 (glog has no less-verbose level).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

TRACE = 5
GLOG_TO_PYTHON: dict[int, int] = {0: logging.INFO, 1: logging.DEBUG, 2: TRACE, 3: 1}
MAX_GLOG = 3

# Mesos's Duration::parse units, in seconds.
UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "secs": 1.0,
    "mins": 60.0,
    "hrs": 3600.0,
    "days": 86400.0,
    "weeks": 604800.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")


def python_level(glog: int) -> int:
    """The Python level for a glog verbosity (0 or more)."""
    if glog < 0:
        raise ValueError(f"Invalid level '{glog}' < 0")
    return GLOG_TO_PYTHON[min(glog, MAX_GLOG)]


def glog_level(level: int) -> int:
    """The glog verbosity a Python level amounts to (the inverse of ``python_level``)."""
    for glog in range(MAX_GLOG, -1, -1):
        if level <= GLOG_TO_PYTHON[glog]:
            return glog
    return 0


def parse_duration(text: str) -> float:
    """Mesos's duration syntax (``10secs``, ``15mins``, ``100ms``, ``2hrs``, …) → seconds;
    a bare number is seconds."""
    m = _DURATION.match(text)
    if m is None or (m.group(2) and m.group(2) not in UNITS):
        units = ", ".join(UNITS)
        raise ValueError(f"Invalid duration '{text}': expected a number and a unit ({units})")
    return float(m.group(1)) * UNITS[m.group(2) or "secs"]


@dataclass(frozen=True)
class LevelState:
    """The process's level: ``base`` is the configured one (``--log-level``), ``current`` the
    one in force, ``revert_at`` when ``current`` goes back to ``base`` (None: it does not)."""

    base: int
    current: int
    revert_at: float | None = None


def toggle(state: LevelState, glog: int, duration: float, now: float) -> LevelState:
    """``/logging/toggle?level=glog&duration=…``: that level until ``now + duration``; a later
    toggle replaces an earlier one, deadline included (as Mesos)."""
    level = python_level(glog)
    if not duration > 0:
        raise ValueError(f"Invalid duration: {duration!r} seconds; it must be positive")
    return LevelState(base=state.base, current=level, revert_at=now + duration)


def expire(state: LevelState, now: float) -> LevelState:
    """The state at ``now``: the configured level again once the deadline has passed."""
    if state.revert_at is not None and now >= state.revert_at:
        return LevelState(base=state.base, current=state.base)
    return state
