"""A private Docker daemon for tests, and a tiny busybox image built without a registry.

``Dockerd`` starts Debian's ``dockerd`` with everything of its own under one temporary
directory (data root, exec root, pid file, unix socket, an empty config file) and with no
networking of its own (``--bridge=none --iptables=false``): it adds no bridge and does not
touch the host's firewall, so containers use host or none networking. It starts its own
containerd (or, where a system containerd runs, uses namespaces of its own in it).
``import_busybox`` builds an image from Debian's ``busybox-static`` (one static binary plus a
symlink per applet) with ``docker import``: no registry is needed.

Stopping removes every container, stops the daemon by its pid, unmounts what it left mounted
under its directory and deletes the directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from corral.testing.cluster import pid_alive, wait_until

BUSYBOX_IMAGE = "corral-busybox:latest"
MNT_DETACH = 2


def find_busybox() -> Path | None:
    for p in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if p and Path(p).is_file():
            return Path(p)
    return None


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (statically linked)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        endian = "<" if head[5] == 1 else ">"
        phoff = struct.unpack_from(endian + "Q", head, 32)[0]
        phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        (p_type,) = struct.unpack_from(endian + "I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def dockerd_unavailable() -> str | None:
    """Why a private dockerd with a busybox image cannot run here, or None."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    for tool in ("dockerd", "containerd", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install docker.io)"
    busybox = find_busybox()
    if busybox is None:
        return "busybox is not installed (apt-get install busybox-static)"
    if not is_static_elf(busybox):
        return f"{busybox} is not statically linked (apt-get install busybox-static)"
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the docker SDK (PyPI 'docker') is not installed"
    return None


def _unmount_under(root: Path) -> None:
    """Lazily unmount every mount point at or below ``root``, deepest first."""
    prefix = str(root.resolve())
    points = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    libc = ctypes.CDLL(None, use_errno=True)
    for point in sorted(points, key=len, reverse=True):
        libc.umount2(point.encode(), MNT_DETACH)


class Dockerd:
    def __init__(self, base: str | Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="corral-dockerd-", dir=base))
        # containerd namespaces are alphanumeric words joined by single '.', '_' or '-': the
        # temp dir's random suffix may end in '_' (it did, in one CI run in ~30).
        self.namespace = "corral-" + re.sub(r"[^A-Za-z0-9]+", "-", self.dir.name).strip("-")
        self.socket = self.dir / "docker.sock"
        self.log = self.dir / "dockerd.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> Any:
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.url, timeout=60)
        return self._client

    def start(self, timeout: float = 30.0) -> Dockerd:
        config = self.dir / "daemon.json"
        config.write_text(json.dumps({}))
        argv = [
            "dockerd",
            "--config-file",
            str(config),
            "--host",
            self.url,
            "--data-root",
            str(self.dir / "data"),
            "--exec-root",
            str(self.dir / "exec"),
            "--pidfile",
            str(self.dir / "dockerd.pid"),
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--userland-proxy=false",
            "--log-level=warn",
            # Where a system containerd runs, dockerd uses it instead of starting its own:
            # namespaces of its own keep its containers apart from anybody else's.
            f"--containerd-namespace={self.namespace}",
            f"--containerd-plugins-namespace={self.namespace}-plugins",
        ]
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )

        def up() -> bool:
            assert self.popen is not None
            if self.popen.poll() is not None:
                tail = self.log.read_text(errors="replace")[-600:]
                raise RuntimeError(f"dockerd exited with {self.popen.returncode}: {tail}")
            return bool(self.client().ping())

        try:
            wait_until(up, timeout, interval=0.05, what=f"dockerd (log: {self.log})")
        except BaseException:
            self.stop()
            raise
        return self

    def import_busybox(self, tag: str = BUSYBOX_IMAGE) -> str:
        """Build ``tag`` from this host's static busybox: /bin/busybox and its applets."""
        busybox = find_busybox()
        assert busybox is not None
        applets = subprocess.run(
            [str(busybox), "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        tarball = self.dir / "busybox.tar"
        with tarfile.open(tarball, "w") as tar:
            for d in ("bin", "tmp", "proc", "sys", "dev", "etc", "mnt"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
            tar.add(str(busybox), arcname="bin/busybox")
            for applet in applets:
                if applet == "busybox":
                    continue
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
                tar.addfile(info)
        repo, _, version = tag.partition(":")
        self.client().api.import_image_from_file(
            str(tarball), repository=repo, tag=version or "latest"
        )
        tarball.unlink()
        return tag

    def containers(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client().api.containers(all=True)
        return found

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(Exception):
                for c in self.containers():
                    self.client().api.remove_container(c["Id"], v=True, force=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._stop_containerd()
        _unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_containerd(self) -> None:
        """dockerd stops its own containerd; make sure, by the pid it recorded."""
        pidfile = self.dir / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(self.dir).encode() not in f.read():
                    return  # the pid was reused by something else
            os.kill(pid, signal.SIGTERM)
        except (OSError, ProcessLookupError):
            return
        try:
            wait_until(lambda: not pid_alive(pid), 10, what=f"containerd {pid} to exit")
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Dockerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["BUSYBOX_IMAGE", "Dockerd", "dockerd_unavailable", "is_static_elf"]
