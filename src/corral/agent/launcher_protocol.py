"""Messages between the agent and its launcher: newline-delimited JSON on a unix socket."""

from __future__ import annotations

import msgspec


class CgroupLimits(msgspec.Struct, omit_defaults=True):
    """Limits for a container's cgroups (the linux containerizer); None fields are not set."""

    mem_bytes: int | None = None
    cpu_shares: int | None = None
    cfs_quota_us: int | None = None
    pids_max: int | None = None


class RLimit(msgspec.Struct, omit_defaults=True):
    """A resource limit set on the spawned process (``resource.RLIMIT_<name>``); None:
    unlimited (``RLIM_INFINITY``)."""

    name: str  # NOFILE, NPROC, CORE, ...
    soft: int | None = None
    hard: int | None = None


class LaunchRequest(msgspec.Struct, tag="launch", tag_field="op", omit_defaults=True):
    id: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    stdout: str
    stderr: str
    path: str = ""  # executable to run; argv[0] when empty
    cgroups: CgroupLimits | None = None  # run in cgroups of its own with these limits
    namespaces: bool = False  # own pid, mount (private /proc), ipc and uts namespaces
    private_network: bool = False  # with namespaces: its own network namespace (loopback only)
    # With private_network: host ports forwarded to the same ports on the task's loopback.
    map_ports: list[int] = []
    map_ip: str = ""  # the host address they are listened on (the agent's --ip)
    rootfs: str = ""  # with namespaces: the image's root filesystem (the sandbox is mounted in it)
    rlimits: list[RLimit] = []  # resource limits of the spawned process
    # Run as this uid, primary gid and supplementary groups (None: as the launcher's user).
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = []


class KillRequest(msgspec.Struct, tag="kill", tag_field="op", omit_defaults=True):
    id: str
    grace: float = 3.0


class UpdateRequest(msgspec.Struct, tag="update", tag_field="op"):
    """New cgroup limits for a running container (a custom executor that got a task)."""

    id: str
    cgroups: CgroupLimits


class ListRequest(msgspec.Struct, tag="list", tag_field="op"):
    pass


class ForgetRequest(msgspec.Struct, tag="forget", tag_field="op"):
    ids: list[str]


class ShutdownRequest(msgspec.Struct, tag="shutdown", tag_field="op", omit_defaults=True):
    grace: float = 3.0


Request = (
    LaunchRequest | KillRequest | UpdateRequest | ListRequest | ForgetRequest | ShutdownRequest
)


class Started(msgspec.Struct, tag="started", tag_field="op"):
    id: str
    pid: int


class Failed(msgspec.Struct, tag="failed", tag_field="op"):
    id: str
    error: str


class Exited(msgspec.Struct, tag="exited", tag_field="op", omit_defaults=True):
    id: str
    status: int  # raw wait status
    limitation: str = ""  # "memory" when the kernel's OOM killer ended it in its cgroup


class Listing(msgspec.Struct, tag="listing", tag_field="op"):
    running: dict[str, int]  # container id -> pid
    exited: dict[str, int]  # container id -> wait status


Reply = Started | Failed | Exited | Listing

request_decoder = msgspec.json.Decoder(Request)
reply_decoder = msgspec.json.Decoder(Reply)
encoder = msgspec.json.Encoder()


def describe_status(status: int) -> tuple[bool, str]:
    """(succeeded, human message) for a raw wait status, in the command executor's words."""
    import os
    import signal

    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return code == 0, f"Command exited with status {code}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return False, f"Command terminated with signal {name}"
    return False, f"Command ended with wait status {status}"
