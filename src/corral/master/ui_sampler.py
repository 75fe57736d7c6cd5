"""The dashboard's utilization history: samples in, bounded series out (pure).

The shell takes a ``Sample`` of the leading master's totals every ``interval`` seconds and
``add``s it to a ``SampleRing``; the ring keeps at most ``window / interval`` samples (an hour
by default), dropping the oldest, so its memory is bounded however long the master runs.
``series`` turns the samples into one list per quantity for the charts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

KINDS = ("cpus", "mem", "disk", "gpus")


@dataclass(frozen=True)
class Sample:
    time: float
    used: dict[str, float]  # kind -> used by tasks
    total: dict[str, float]  # kind -> total of the agents
    tasks_running: int = 0
    agents: int = 0


@dataclass
class SampleRing:
    interval: float = 5.0
    window: float = 3600.0
    samples: deque[Sample] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.window < self.interval:
            raise ValueError("interval must be > 0 and window >= interval")
        self.samples = deque(self.samples, maxlen=self.capacity)

    @property
    def capacity(self) -> int:
        return int(self.window // self.interval) + 1


def add(ring: SampleRing, sample: Sample) -> None:
    """Append ``sample``; a sample older than the last one (a clock step back) replaces it
    rather than making the series go back in time."""
    if ring.samples and sample.time <= ring.samples[-1].time:
        ring.samples.pop()
    ring.samples.append(sample)


def series(ring: SampleRing, now: float, window: float | None = None) -> dict[str, object]:
    """The samples of the last ``window`` seconds (default: the ring's) as parallel lists:
    ``time``, ``tasks_running``, ``agents``, and per kind ``<kind>_used``/``<kind>_total``
    and ``<kind>_percent`` (0..100, 0 when the total is 0)."""
    since = now - (ring.window if window is None else window)
    picked = [s for s in ring.samples if s.time >= since]
    out: dict[str, object] = {
        "interval": ring.interval,
        "window": ring.window if window is None else window,
        "time": [s.time for s in picked],
        "tasks_running": [s.tasks_running for s in picked],
        "agents": [s.agents for s in picked],
    }
    for kind in KINDS:
        used = [s.used.get(kind, 0.0) for s in picked]
        total = [s.total.get(kind, 0.0) for s in picked]
        out[f"{kind}_used"] = used
        out[f"{kind}_total"] = total
        out[f"{kind}_percent"] = [
            round(100.0 * u / t, 2) if t > 0 else 0.0 for u, t in zip(used, total, strict=True)
        ]
    return out
