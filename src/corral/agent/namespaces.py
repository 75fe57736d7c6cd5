"""Namespaces of the linux containerizer, made by the launcher itself: no extra process per task.

``posix_spawn`` cannot run code in the child, so the launcher makes the namespaces around the
spawn instead: it ``unshare(2)``s new pid, mount, ipc and uts namespaces (and a network one
with ``--isolation network/private``), spawns the task, and ``setns(2)``s itself back. A new
pid namespace applies to the caller's next child only, which becomes its pid 1; the other
namespaces move the (single-threaded) launcher itself for the few microseconds of the spawn.

What cannot be done from outside is mounting the task's own ``/proc``: procfs shows the pid
namespace of the process that mounts it. So the task is spawned through ``corral-nsinit``, a
309-byte static program (``nsinit.S`` next to this file: a ``mount`` and an ``execve``, no
libc) that mounts ``/proc`` as pid 1 of the new namespace and executes the task in its own
place, so the task itself is pid 1. Executing it costs about 0.1 ms of CPU; the ``unshare``
binary this replaces costs 1 ms (dynamic linking, a fork, and a waiting parent per task).
On machines other than x86-64 the launcher runs ``unshare --mount-proc`` (one dynamically
linked exec, no fork) in its place.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import platform
import shutil
import socket
import stat
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from corral.agent.spawn_as import spawn_as

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
SYS_PIVOT_ROOT = 155  # x86-64; images need corral-nsinit, which is x86-64 too
SANDBOX = "/mnt/mesos/sandbox"  # where a task with an image finds its sandbox, as in Mesos
NSINIT_IN_ROOT = "/mnt/mesos/nsinit"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NS_FILES = {
    CLONE_NEWNS: "mnt",
    CLONE_NEWIPC: "ipc",
    CLONE_NEWUTS: "uts",
    CLONE_NEWNET: "net",
    CLONE_NEWPID: "pid",  # last: it only says where the next child goes
}

# The .text of nsinit.S, assembled (as --64; objcopy -O binary -j .text).
NSINIT_X86_64 = bytes.fromhex(
    "488b1c244c8d6424084c8d6cdc104883fb037c56488d3d73000000488d35710000004889fa41ba0e0000004531c0b8a5"
    "0000000f054885c07522498b7c2408498d7424104c89eab83b0000000f05488d3583000000ba31000000eb1a488d3536"
    "000000ba3f000000eb0c488d3598000000ba2c000000bf02000000b8010000000f05bf7f000000b8e70000000f057072"
    "6f63002f70726f6300636f7272616c2d6e73696e69743a2063616e6e6f74206d6f756e74202f70726f6320666f722074"
    "6865207461736b277320706964206e616d6573706163650a636f7272616c2d6e73696e69743a2063616e6e6f74206578"
    "656375746520746865207461736b27732070726f6772616d0a75736167653a20636f7272616c2d6e73696e6974205052"
    "4f4752414d204152475630205b4152472e2e2e5d0a"
)
NSINIT_NAME = "corral-nsinit"


def elf_executable(code: bytes, base: int = 0x400000) -> bytes:
    """A minimal static x86-64 ELF executable: one read+execute segment, entry at ``code``."""
    ehsize, phsize = 64, 56
    entry = base + ehsize + phsize
    size = ehsize + phsize + len(code)
    header = struct.pack(
        "<4sBBBBB7xHHIQQQIHHHHHH",
        b"\x7fELF",
        2,  # ELFCLASS64
        1,  # little endian
        1,  # EV_CURRENT
        0,  # System V ABI
        0,
        2,  # ET_EXEC
        62,  # EM_X86_64
        1,
        entry,
        ehsize,  # program headers right after this header
        0,  # no section headers
        0,
        ehsize,
        phsize,
        1,
        0,
        0,
        0,
    )
    program = struct.pack(
        "<IIQQQQQQ",
        1,  # PT_LOAD
        5,  # PF_R | PF_X
        0,
        base,
        base,
        size,
        size,
        0x1000,
    )
    return header + program + code


def install_nsinit(directory: Path) -> Path | None:
    """Write corral-nsinit into ``directory``; None where it does not run (not x86-64)."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "amd64"):
        return None
    path = directory / NSINIT_NAME
    data = elf_executable(NSINIT_X86_64)
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    tmp = directory / f".{NSINIT_NAME}.{os.getpid()}"
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(path)
    return path


def runs(helper: Path) -> bool:
    """Whether corral-nsinit executes here: without arguments it only prints its usage and
    exits 127 (it mounts nothing)."""
    try:
        pid = os.posix_spawn(
            str(helper),
            [str(helper)],
            {},
            file_actions=[(os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)],
        )
        _, status = os.waitpid(pid, 0)
    except OSError:
        return False
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 127


class Namespaces:
    """Spawns processes as pid 1 of new pid, mount, ipc, uts (and optionally net) namespaces."""

    def __init__(self, work_dir: Path) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._own = {
            flag: os.open(f"/proc/self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            for flag, name in NS_FILES.items()
        }
        self.helper = install_nsinit(work_dir)
        if self.helper is not None and not runs(self.helper):
            print(
                f"launcher: {self.helper} does not run here (a noexec mount?); "
                "using unshare --mount-proc instead",
                file=sys.stderr,
                flush=True,
            )
            self.helper = None
        if self.helper is not None:
            # The launcher makes the mount namespace; nsinit mounts /proc in it.
            self.wrapper = [str(self.helper)]
            self.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
        else:
            # unshare makes the mount namespace and mounts /proc, then execs (no fork).
            self.wrapper = [shutil.which("unshare") or "/usr/bin/unshare", "--mount-proc", "--"]
            self.flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS

    def close(self) -> None:
        for fd in self._own.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._own.clear()

    def spawn(
        self,
        path: str,
        argv: Sequence[str],
        env: dict[str, str],
        file_actions: Sequence[tuple[Any, ...]],
        *,
        net: bool = False,
        rootfs: str = "",
        sandbox: str = "",
        scratch: Path | None = None,
        creds: tuple[int, int, list[int]] | None = None,
    ) -> tuple[int, int | None]:
        """posix_spawn ``path`` in new namespaces: its host pid, and with ``net`` a descriptor
        of its network namespace (the caller closes it). With ``rootfs``, the task's
        root is an overlay of that tree (writes go to ``scratch``) with ``sandbox`` mounted at
        /mnt/mesos/sandbox, its working directory (file actions name paths inside it).

        With ``creds`` (uid, gid, groups) the task runs as that user: the launcher forks
        (``spawn_as``), and the child mounts the task's /proc as root, then drops to the user
        and executes the task itself (no corral-nsinit), still as pid 1.

        Raises OSError (naming the step) when a namespace cannot be made or the spawn fails.
        """
        with self._entered(self.flags | (CLONE_NEWNET if net else 0)):
            net_fd = None
            if net:  # the launcher's thread is in the task's new network namespace now
                net_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            wrapper = self.wrapper
            if rootfs:
                if self.helper is None or scratch is None:
                    raise OSError(95, "container images need corral-nsinit (x86-64 only)")
                wrapper = [self._enter_rootfs(rootfs, sandbox, scratch)]
                path = resolve_program(path, env.get("PATH") or DEFAULT_PATH)
            else:
                # As posix_spawnp would find it: nsinit executes it without a PATH search.
                path = resolve_program(path, os.environ.get("PATH", os.defpath))
            if creds is not None:
                try:
                    pid = spawn_as(path, argv, env, file_actions, *creds, before=self._own_proc)
                except BaseException:
                    if net_fd is not None:
                        os.close(net_fd)
                    raise
                return pid, net_fd
            if self.helper is not None:
                args = [*wrapper, path, *argv]  # nsinit PROGRAM ARGV0 ARG...
            else:
                args = [*wrapper, path, *argv[1:]]  # unshare cannot set argv[0]
            try:
                pid = os.posix_spawn(args[0], args, env, file_actions=file_actions, setsid=True)
            except BaseException:
                if net_fd is not None:
                    os.close(net_fd)
                raise
            return pid, net_fd

    def _own_proc(self) -> None:
        """In a forked child, pid 1 of the task's pid namespace and still root: give it a
        mount namespace of its own if the launcher did not (unshare's fallback) and mount
        the /proc of its pid namespace, as corral-nsinit does."""
        libc = self._libc
        if not self.flags & CLONE_NEWNS and (
            libc.unshare(CLONE_NEWNS) != 0
            or libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0
        ):
            err = ctypes.get_errno()
            raise OSError(err, f"make the task's mount namespace: {os.strerror(err)}")
        if libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount /proc for the task's pid namespace: {os.strerror(err)}")

    def socket_in(self, net_fd: int) -> socket.socket:
        """A new TCP socket in the network namespace ``net_fd`` (it stays there)."""
        if self._libc.setns(net_fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot enter the task's network namespace: {os.strerror(err)}")
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            self._leave(CLONE_NEWNET)

    def _enter_rootfs(self, rootfs: str, sandbox: str, scratch: Path) -> str:
        """In the task's new mount namespace (the launcher is in it): make the root and move
        the launcher into it for the spawn. Returns nsinit's path inside."""
        assert self.helper is not None
        upper, work, root = scratch / "upper", scratch / "work", scratch / "root"
        for d in (upper, work, root):
            d.mkdir(parents=True, exist_ok=True)
        for p in (rootfs, str(upper), str(work)):
            if "," in p or ":" in p:
                raise OSError(22, f"cannot use {p!r} in an overlay mount (',' or ':')")
        self._mount(
            "overlay", str(root), "overlay", 0, f"lowerdir={rootfs},upperdir={upper},workdir={work}"
        )
        # The launcher itself creates, mounts and copies at these paths, resolving them in the
        # host's root: a symlink the image put there (mnt -> /, mnt/mesos/nsinit -> /usr/sbin/x)
        # would aim those writes at the host. Inside the task, the image's links are harmless.
        for sub in ("proc", "dev", "tmp", SANDBOX.lstrip("/"), NSINIT_IN_ROOT.lstrip("/")):
            _refuse_symlinks(root, sub)
        for sub in ("proc", "dev", "tmp", SANDBOX.lstrip("/")):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._mount(sandbox, str(root / SANDBOX.lstrip("/")), None, MS_BIND | MS_REC)
        self._mount("/dev", str(root / "dev"), None, MS_BIND | MS_REC)
        inner = root / NSINIT_IN_ROOT.lstrip("/")
        shutil.copyfile(self.helper, inner)
        inner.chmod(0o755)
        os.chdir(root)
        # pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the
        # task's namespace with no way back to the host's filesystem.
        if self._libc.syscall(SYS_PIVOT_ROOT, b".", b".") != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot pivot_root into the image: {os.strerror(err)}")
        if self._libc.umount2(b".", MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot detach the host's root: {os.strerror(err)}")
        os.chdir(SANDBOX)
        return NSINIT_IN_ROOT

    def _mount(
        self, source: str, target: str, fstype: str | None, flags: int, data: str = ""
    ) -> None:
        rc = self._libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        )
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot mount {source} on {target}: {os.strerror(err)}")

    @contextlib.contextmanager
    def _entered(self, flags: int) -> Iterator[None]:
        cwd = os.getcwd()  # returning to the own mount namespace moves the caller to its root
        if self._libc.unshare(flags) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot create namespaces (unshare): {os.strerror(err)}")
        try:
            # Mounts made in the task's mount namespace (its /proc) stay there.
            private = MS_REC | MS_PRIVATE
            if flags & CLONE_NEWNS and self._libc.mount(None, b"/", None, private, None) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"cannot make the task's mounts private: {os.strerror(err)}")
            if flags & CLONE_NEWNET:
                loopback_up()
            yield
        finally:
            self._leave(flags)
            with contextlib.suppress(OSError):  # (a spawned task must not be lost over it)
                os.chdir(cwd)

    def _leave(self, flags: int) -> None:
        for flag, fd in self._own.items():
            if flags & flag and self._libc.setns(fd, flag) != 0:
                # The launcher would spawn every later task inside this one's namespaces.
                err = ctypes.get_errno()
                print(
                    f"launcher: cannot return to its own {NS_FILES[flag]} namespace: "
                    f"{os.strerror(err)}; exiting",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(70)


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def _refuse_symlinks(root: Path, relative: str) -> None:
    """Raise unless every existing component of ``root/relative`` is a plain file or
    directory (not a symbolic link)."""
    path = root
    for part in relative.split("/"):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return  # created below as a real directory
        if stat.S_ISLNK(st.st_mode):
            raise OSError(
                errno.EPERM, f"the image has a symbolic link at /{relative}; refusing to use it"
            )


def loopback_up() -> None:
    """Bring up ``lo`` in the calling thread's network namespace (a new one starts down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def resolve_program(path: str, search_path: str | None = None) -> str:
    """``path`` as posix_spawnp would find it (PATH search for a bare name); OSError if none."""
    if "/" in path:
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            if not os.path.exists(path):
                raise FileNotFoundError(2, "No such file or directory", path)
            raise PermissionError(13, "Permission denied", path)
        return path
    found = shutil.which(path, path=search_path if search_path is not None else os.defpath)
    if found is None:
        raise FileNotFoundError(2, "No such file or directory", path)
    return found
