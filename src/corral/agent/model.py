"""What an agent holds: the tasks and executors it runs, per framework. The records are the
core's (``agent/core/state.py``); these names are kept for the views that read them."""

from __future__ import annotations

from corral.agent.core.state import ExecutorEntry, FrameworkEntry, TaskEntry

__all__ = ["ExecutorEntry", "FrameworkEntry", "TaskEntry"]
