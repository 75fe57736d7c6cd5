"""Which OS user a container runs as (Mesos's ``--switch_user``), and who that user is here.

A task runs as ``CommandInfo.user``, else ``FrameworkInfo.user``. With switching on (the
default when the agent runs as root, ``--switch-user`` / ``--no-switch-user`` to choose), a
task naming another user than the agent's runs as that user: its uid, primary gid and
supplementary groups (``initgroups(3)``: every group that lists it), with its sandbox owned by
it. Switching off, every task runs as the agent's user, whatever it names (as in Mesos). A
task naming the agent's own user, or none, runs exactly as before.

``run_as`` is the decision (pure); ``resolve`` asks the host's user database.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path


class UserError(Exception):
    """The task cannot run as the user it names; the message names the user."""


@dataclass(frozen=True)
class OsUser:
    """A user of this host, as a container is started as it."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups, the primary one included
    home: str


def requested_user(command_user: str | None, framework_user: str) -> str:
    """The user a container asks for: its CommandInfo's, else its framework's ("": none)."""
    return command_user or framework_user or ""


def run_as(requested: str, switch_user: bool, agent_user: str, agent_is_root: bool) -> str | None:
    """The user to switch to for a container that asks for ``requested``; None: run as the
    agent's own user, as today. Raises UserError when switching is on but impossible (an
    agent that is not root cannot become another user; Mesos fails such tasks too)."""
    if not requested or not switch_user or requested == agent_user:
        return None
    if not agent_is_root:
        raise UserError(
            f"Failed to run as user {requested!r}: the agent runs as {agent_user!r}, not root, "
            "so it cannot switch users (run it as root, or with --no-switch-user)"
        )
    return requested


@dataclass(frozen=True)
class Switching:
    """How this agent runs containers: whether it switches users, and as whom it runs."""

    switch_user: bool
    agent_user: str
    agent_is_root: bool

    @classmethod
    def here(cls, switch_user: bool | None) -> Switching:
        """This process's: ``switch_user`` None means on when it runs as root."""
        root = os.geteuid() == 0
        return cls(root if switch_user is None else switch_user, agent_user(), root)

    def user_for(self, command_user: str | None, framework_user: str) -> OsUser | None:
        """The user a container (or a task's command check) runs as; None: the agent's.
        UserError, naming the user, when it cannot."""
        asked = requested_user(command_user, framework_user)
        name = run_as(asked, self.switch_user, self.agent_user, self.agent_is_root)
        return resolve(name) if name is not None else None


def resolve(name: str) -> OsUser:
    """``name`` in this host's user database, with its groups; UserError if unknown."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UserError(f"Failed to run as user {name!r}: no such user on this agent") from None
    try:
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
    except OSError as exc:
        raise UserError(f"Failed to run as user {name!r}: cannot read its groups: {exc}") from None
    return OsUser(name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def agent_user() -> str:
    """The name of the user this process runs as (its uid when it has none)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def give_sandbox(root: Path, user: OsUser) -> None:
    """Give the sandbox ``root`` and everything in it (fetched files, and its stdout and
    stderr, made now if the fetcher did not) to ``user``. Symbolic links are changed
    themselves, never followed."""
    for name in ("stdout", "stderr"):
        (root / name).touch()
    os.chown(root, user.uid, user.gid)
    for top, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.chown(os.path.join(top, name), user.uid, user.gid, follow_symlinks=False)
