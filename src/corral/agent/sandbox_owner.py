"""Whose sandbox a path is in (pure over the agent's state): the OS user the ACLs'
``access_sandboxes`` rules are checked against (the task's command user, else its
framework's user)."""

from __future__ import annotations

from pathlib import Path

from corral.agent.core.state import AgentState


def sandbox_user(state: AgentState, root: Path, real: Path) -> str | None:
    """The user owning the sandbox ``real`` lies in (``root``: the sandboxes directory);
    None when it is in no known sandbox (the root itself, or a sandbox since forgotten)."""
    try:
        rel = real.relative_to(root)
    except ValueError:
        return None
    if not rel.parts:
        return None
    top = root / rel.parts[0]
    for fw in [*state.frameworks.values(), *state.completed_frameworks]:
        for ex in fw.executors.values():
            if ex.sandbox.resolve() == top:
                user = ex.info.command.user if ex.info.command else None
                return user or fw.info.user
        for t in [*fw.tasks.values(), *fw.completed]:
            sandbox = t.sandbox.resolve()
            if sandbox == top or top in sandbox.parents:
                user = t.info.command.user if t.info.command else None
                return user or fw.info.user
    return None
