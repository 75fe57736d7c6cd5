"""Spawning a container's process as another OS user (the launcher's path for tasks that
run as a user of their own; every other spawn stays ``posix_spawn``).

``posix_spawn`` cannot change credentials in the child, and the launcher cannot lend its own
(setting the real, effective and saved uid to a user's is for good: root would never come
back). So for these tasks only, the launcher ``fork``s: the child takes a new session, runs
``before`` while still root (the linux containerizer mounts the task's ``/proc`` there), sets
its supplementary groups, gid and uid (all three of each), then opens its stdin, stdout and
stderr as the user (so a link the user put in its sandbox cannot aim root's writes elsewhere)
and executes the program. What fails before the ``execve`` comes back to the launcher
over a close-on-exec pipe as an ``OSError``, as ``posix_spawn``'s errors do. A fork of the
launcher costs about a millisecond more than ``posix_spawn``; tasks that name no user (or the
agent's own) do not pay it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any


def spawn_as(
    path: str,
    argv: Sequence[str],
    env: dict[str, str],
    file_actions: Sequence[tuple[Any, ...]],
    uid: int,
    gid: int,
    groups: Sequence[int],
    before: Callable[[], None] | None = None,
) -> int:
    """Start the program at ``path`` (a path, not a name to search for) as ``uid``/``gid``
    with ``groups``, in a new session; its pid. ``file_actions`` are ``POSIX_SPAWN_OPEN``
    tuples (``(op, fd, path, flags, mode)``), opened as the user (those in the working
    directory by their name in it). Raises OSError."""
    program = path
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, until it executes the program
        step = "start"
        try:
            os.close(read_end)
            os.setsid()
            if before is not None:
                step = "prepare"
                before()
            cwd = os.getcwd()
            step = "set its groups"
            os.setgroups(list(groups))
            step = f"set gid {gid}"
            os.setgid(gid)
            step = f"set uid {uid}"
            os.setuid(uid)
            for action in file_actions:
                _, fd, name, flags, mode = action
                step = f"open {name}"
                if os.path.dirname(name) == cwd:
                    # As the user, and from the working directory (the sandbox): a path from
                    # the root may cross directories closed to it (a 0700 work directory).
                    name = os.path.basename(name)
                opened = os.open(name, flags | os.O_CLOEXEC, mode)
                if opened != fd:
                    os.dup2(opened, fd)  # dup2 clears close-on-exec on fd
                    os.close(opened)
                else:
                    os.set_inheritable(fd, True)
            step = "execute the program"
            os.execve(program, list(argv), env)
        except BaseException as exc:
            code = exc.errno if isinstance(exc, OSError) and exc.errno else 1
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            try:
                os.write(write_end, f"{code}\n{step}: {text}".encode())
            finally:
                os._exit(127)
    os.close(write_end)
    chunks = []
    try:
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
    finally:
        os.close(read_end)
    if chunks:
        try:  # it never ran the program: collect it here, it is nobody's task
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        number, _, text = b"".join(chunks).decode(errors="replace").partition("\n")
        raise OSError(int(number) if number.isdigit() else 1, f"cannot {text}")
    return pid
