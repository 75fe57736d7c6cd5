"""ZkEnsemble: a real N-node ZooKeeper ensemble on 127.0.0.1, from the machine's install.

Uses Debian's ``zookeeper`` package (jars under /usr/share/java); each node is a
``QuorumPeerMain`` process on free ports, stopped by pid. For tests, benchmarks and
``corral up --masters N``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from corral.testing.cluster import free_port, wait_until

ZK_CLASSPATH = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
    "/usr/share/java/slf4j-api.jar",
]


def zookeeper_available() -> str | None:
    """None when an ensemble can be started here, else why not."""
    if not Path(ZK_CLASSPATH[0]).exists():
        return "ZooKeeper is not installed (apt-get install zookeeper)"
    if shutil.which("java") is None:
        return "java is not installed"
    return None


def four_letter(port: int, cmd: str = "srvr", timeout: float = 1.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        while True:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@dataclass
class ZkNode:
    index: int
    client_port: int
    peer_port: int
    election_port: int
    dir: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def mode(self) -> str | None:
        try:
            for line in four_letter(self.client_port).splitlines():
                if line.startswith("Mode:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            return None
        return None


class ZkEnsemble:
    def __init__(
        self, nodes: int = 3, *, work_dir: str | Path | None = None, tick_ms: int = 500
    ) -> None:
        why = zookeeper_available()
        if why:
            raise RuntimeError(why)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="corral-zk-")
            work_dir = self._tmp.name
        self.work_dir = Path(work_dir)
        self.tick_ms = tick_ms
        self.nodes = [
            ZkNode(i, free_port(), free_port(), free_port(), self.work_dir / f"node{i}")
            for i in range(1, nodes + 1)
        ]
        for node in self.nodes:
            self._configure(node)

    @property
    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{n.client_port}" for n in self.nodes)

    def url(self, path: str = "/corral") -> str:
        return f"zk://{self.hosts}{path}"

    def _configure(self, node: ZkNode) -> None:
        (node.dir / "data").mkdir(parents=True, exist_ok=True)
        (node.dir / "data" / "myid").write_text(f"{node.index}\n")
        lines = [
            f"tickTime={self.tick_ms}",
            "initLimit=10",
            "syncLimit=5",
            f"minSessionTimeout={2 * self.tick_ms}",
            "maxSessionTimeout=60000",
            f"dataDir={node.dir / 'data'}",
            f"clientPort={node.client_port}",
            "clientPortAddress=127.0.0.1",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
        ]
        if len(self.nodes) > 1:
            lines += [
                f"server.{n.index}=127.0.0.1:{n.peer_port}:{n.election_port}" for n in self.nodes
            ]
        (node.dir / "zoo.cfg").write_text("\n".join(lines) + "\n")
        (node.dir / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, F\n"
            "log4j.appender.F=org.apache.log4j.FileAppender\n"
            f"log4j.appender.F.File={node.dir / 'zk.log'}\n"
            "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.F.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n\n"
        )

    def start_node(self, node: ZkNode) -> None:
        if node.running:
            return
        cp = ":".join(p for p in ZK_CLASSPATH if Path(p).exists())
        argv = [
            "java",
            "-Xms32m",
            "-Xmx128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j.configuration=file:{node.dir / 'log4j.properties'}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            cp,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(node.dir / "zoo.cfg"),
        ]
        with open(node.dir / "stdout.log", "ab") as log:
            node.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ},
            )

    def start(self, timeout: float = 60.0) -> ZkEnsemble:
        try:
            for node in self.nodes:
                self.start_node(node)
            self.wait_serving(len(self.nodes), timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_serving(self, count: int, timeout: float = 60.0) -> None:
        def serving() -> bool:
            modes = [n.mode() for n in self.nodes if n.running]
            return sum(1 for m in modes if m in ("leader", "follower", "standalone")) >= count

        wait_until(serving, timeout, interval=0.1, what=f"{count} ZooKeeper nodes serving")

    def kill_node(self, node: ZkNode, sig: int = signal.SIGKILL) -> None:
        if node.popen is not None and node.popen.poll() is None:
            node.popen.send_signal(sig)
            node.popen.wait(10)

    def stop(self) -> None:
        for node in self.nodes:
            if node.popen is not None and node.popen.poll() is None:
                node.popen.terminate()
                try:
                    node.popen.wait(10)
                except subprocess.TimeoutExpired:
                    node.popen.kill()
                    node.popen.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ZkEnsemble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
