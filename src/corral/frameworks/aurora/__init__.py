"""Aurora-style jobs: a front end on the services and jobs frameworks (docs/aurora.md)."""
