"""Timers for the master's metrics: a bounded window of recent durations, summarised the way
Mesos summarises its timers (``name``, ``name/count``, ``name/p50``, ``name/p99``, ...)."""

from __future__ import annotations

import math
from collections import deque

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))


class TimerWindow:
    """The last ``size`` durations (ms) of one timer, and how many there have been in all."""

    def __init__(self, size: int = 10_000) -> None:
        self.values: deque[float] = deque(maxlen=size)
        self.count = 0

    def add(self, ms: float) -> None:
        self.values.append(ms)
        self.count += 1

    def summary(self, name: str) -> dict[str, float]:
        out: dict[str, float] = {f"{name}/count": float(self.count)}
        if not self.values:
            return out
        ordered = sorted(self.values)
        out[name] = self.values[-1]
        out[f"{name}/min"] = ordered[0]
        out[f"{name}/max"] = ordered[-1]
        for label, q in PERCENTILES:
            k = max(0, min(len(ordered) - 1, math.ceil(q / 100.0 * len(ordered)) - 1))
            out[f"{name}/{label}"] = ordered[k]
        return out
