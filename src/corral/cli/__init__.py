"""The ``corral`` command line (typer + rich)."""
