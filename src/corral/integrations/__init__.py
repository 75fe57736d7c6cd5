"""Third-party engines run on corral through the public SDK (``corral.scheduler_client``):
``corral.integrations.dask`` is Dask's ``CorralCluster``."""
