"""The spark framework: Spark's standalone cluster (master and elastic workers) as corral tasks."""
