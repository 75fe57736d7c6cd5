"""The allocator: a pure function from a snapshot of the cluster to offers (DRF).

No I/O, no clock reads, no asyncio: the master builds a ``Snapshot`` and applies the
returned ``OfferPlan`` list.
"""

from corral.master.allocator.drf import allocate, dominant_share
from corral.master.allocator.quota import Quota, quota_reasons
from corral.master.allocator.snapshot import (
    AgentView,
    Filter,
    FrameworkView,
    OfferPlan,
    Snapshot,
    allocatable,
)

__all__ = [
    "AgentView",
    "Filter",
    "FrameworkView",
    "OfferPlan",
    "Quota",
    "Snapshot",
    "allocatable",
    "allocate",
    "dominant_share",
    "quota_reasons",
]
