"""Dask on corral: ``CorralCluster`` is a ``distributed`` ``SpecCluster`` whose scheduler
and workers are corral tasks (``docs/data.md``)."""

from corral.integrations.dask.cluster import CorralCluster, CorralScheduler, CorralWorker

__all__ = ["CorralCluster", "CorralScheduler", "CorralWorker"]
