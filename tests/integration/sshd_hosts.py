"""Test "hosts": one real sshd (Debian's openssh-server) per host, each on its own loopback
address with its own host key and root directory, as /work/shared/tools/sshd_hosts.sh makes
them; plus the cleanup of everything `corral deploy` started under their roots (by pid)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from corral.testing import pid_alive, wait_until

SSHD = "/usr/sbin/sshd"


def sshd_unavailable() -> str | None:
    if not Path(SSHD).exists():
        return "sshd is not installed (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is not installed (apt-get install openssh-client)"
    if os.geteuid() != 0:
        return "sshd hosts need root (each sshd logs in as root by key)"
    return None


@dataclass
class SshHost:
    name: str
    address: str
    dir: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> Path:
        return self.dir / "root"


@dataclass
class SshHosts:
    base: Path
    port: int
    key: Path
    hosts: list[SshHost] = field(default_factory=list)

    def add(self, count: int) -> list[SshHost]:
        new = []
        for _ in range(count):
            i = len(self.hosts) + 1
            host = SshHost(f"host{i}", f"{self.prefix}.{10 + i}", self.base / f"host{i}")
            _start(host, self)
            self.hosts.append(host)
            new.append(host)
        return new

    @property
    def prefix(self) -> str:
        # an unusual 127/8 network per test run, so that a concurrent run (or sshd_hosts.sh on
        # 127.0.0.1x) cannot collide with our hosts' ports
        return f"127.{100 + os.getpid() % 100}.{os.getpid() % 250 + 1}"

    def stop(self) -> None:
        for host in self.hosts:
            stop_deployed(host.root)
        for host in self.hosts:
            if host.popen is not None and host.popen.poll() is None:
                host.popen.terminate()
                host.popen.wait(10)

    def leftovers(self) -> list[str]:
        """Processes still running from under the hosts' directories (none, after stop)."""
        return running_under(self.base)

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def running_under(base: Path) -> list[str]:
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if str(base) + "/" in cmd and p.pid != os.getpid():
            out.append(f"{p.pid} {cmd[:150]}")
    return out


def serve_hosts(count: int) -> Iterator[SshHosts]:
    """A module fixture's body: ``count`` sshd hosts (with ZooKeeper available), skipping the
    tests with the reason when they cannot run here; at the end every host is stopped, and
    the fixture fails if anything deployed under them still runs."""
    import pytest

    from corral.testing.zookeeper import zookeeper_available

    why = sshd_unavailable() or zookeeper_available()
    if why:
        pytest.skip(why)
    try:
        started = start_hosts(count)
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot start sshd hosts: {exc}")
    try:
        yield started
    finally:
        started.stop()
        left = started.leftovers()
        if not left:
            started.remove()
        assert not left, f"deployed processes still running: {left}"


def start_hosts(count: int) -> SshHosts:
    why = sshd_unavailable()
    if why:
        raise RuntimeError(why)
    base = Path(tempfile.mkdtemp(prefix="cdep-", dir="/tmp"))
    key = base / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    hosts = SshHosts(base, port, key)
    try:
        hosts.add(count)
    except BaseException:
        hosts.stop()
        raise
    return hosts


def _start(host: SshHost, hosts: SshHosts) -> None:
    d = host.dir
    host.root.mkdir(parents=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True
    )
    shutil.copy(str(hosts.key) + ".pub", d / "authorized_keys")
    (d / "authorized_keys").chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True)
    (d / "sshd_config").write_text(
        f"ListenAddress {host.address}:{hosts.port}\n"
        f"HostKey {d / 'host_key'}\n"
        f"PidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "MaxStartups 50\n"
        "Subsystem sftp internal-sftp\n"
    )
    # -D: stay in the foreground as our child, so that the test stops it by its pid
    host.popen = subprocess.Popen(
        [SSHD, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")],
        stdin=subprocess.DEVNULL,
    )

    def listening() -> bool:
        if host.popen is not None and host.popen.poll() is not None:
            raise RuntimeError(f"sshd exited: {(d / 'sshd.log').read_text()[-500:]}")
        try:
            socket.create_connection((host.address, hosts.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    wait_until(listening, 15, interval=0.05, what=f"sshd of {host.name} listening")


def deployed_pids(root: Path) -> list[int]:
    """Supervisors, their services, and launchers started under a host's root."""
    pids = []
    for state in root.glob("run/corral/*.state"):
        try:
            doc = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        pids += [p for p in (doc.get("pid"), doc.get("child")) if isinstance(p, int)]
    for pidfile in root.glob("var/lib/corral/agent/launcher/launcher.pid"):
        try:
            pids.append(int(pidfile.read_text()))
        except (OSError, ValueError):
            pass
    return [p for p in pids if pid_alive(p)]


def stop_deployed(root: Path) -> None:
    """Stop what deploy started under `root`: supervisors (which stop their services), then
    whatever is left of them and the agent's launcher (which kills its tasks)."""
    for state in root.glob("run/corral/*.state"):
        try:
            pid = json.loads(state.read_text()).get("pid")
            if isinstance(pid, int) and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
    pids = deployed_pids(root)
    deadline = time.monotonic() + 20
    for pid in pids:
        if pid in _launcher_pids(root):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _launcher_pids(root: Path) -> set[int]:
    out = set()
    for pidfile in root.glob("var/lib/corral/agent/launcher/launcher.pid"):
        try:
            out.add(int(pidfile.read_text()))
        except (OSError, ValueError):
            pass
    return out


def wheelhouse(wheel: Path, dest: Path) -> tuple[str, ...]:
    """The wheels `wheel` depends on, downloaded once into `dest` (from pip's cache after the
    first time), and the pip arguments that install from there alone: each host's venv then
    installs corral's dependencies without the network and whatever Python runs the tests
    (CI's own venv has them, the hosts' base interpreter need not)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "-d", str(dest), str(wheel)], capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pip download of {wheel.name}'s dependencies failed:\n{done.stderr}")
    return ("--no-index", "--find-links", str(dest))
