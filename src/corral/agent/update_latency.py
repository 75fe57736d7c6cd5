"""The round trips of status updates (sent to the master → acknowledged), as a cumulative
histogram with fixed buckets: pure (the times come from the caller), bounded memory."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from prometheus_client.core import HistogramMetricFamily

# Seconds: a loopback round trip is milliseconds; a scheduler slow to acknowledge, seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class LatencyHistogram:
    buckets: tuple[float, ...] = BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus's buckets: (upper bound, observations at or under it), +Inf last."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


def family(h: LatencyHistogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        "corral_agent_status_update_round_trip_seconds",
        "Seconds from sending a status update to the master to its acknowledgement "
        "(from the latest send, when it was resent).",
        buckets=h.cumulative(),
        sum_value=h.total,
    )
