"""A ZooKeeper ensemble's health, as `corral status` shows it: each server's mode from its
``srvr`` four-letter command (whitelisted by default since ZooKeeper 3.5), and whether a
quorum of them serves. The parsing and the verdict are pure; ``probe`` owns the socket."""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Server:
    address: str  # host:port
    mode: str  # leader, follower, standalone, observer, or "unreachable" / "not serving"
    detail: str = ""  # why it is unreachable, or its version


def parse_srvr(address: str, text: str) -> Server:
    """A ``srvr`` answer: ``Mode: follower`` and ``Zookeeper version: …`` lines."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    mode = fields.get("mode")
    if mode is None:
        return Server(address, "not serving", text.strip()[:120])
    return Server(address, mode, fields.get("zookeeper version", "").split(",")[0])


@dataclass(frozen=True)
class Quorum:
    servers: list[Server]

    @property
    def serving(self) -> int:
        return sum(1 for s in self.servers if s.mode in ("leader", "follower", "standalone"))

    @property
    def healthy(self) -> bool:
        return self.serving > len(self.servers) // 2

    def summary(self) -> str:
        state = "quorum healthy" if self.healthy else "NO QUORUM"
        return f"{self.serving} of {len(self.servers)} servers serving: {state}"


def probe(address: str, timeout: float = 2.0) -> Server:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(b"srvr")
            chunks = []
            while data := s.recv(4096):
                chunks.append(data)
    except (OSError, ValueError) as exc:
        return Server(address, "unreachable", str(exc))
    return parse_srvr(address, b"".join(chunks).decode(errors="replace"))


def ensemble(hosts: str, timeout: float = 2.0) -> Quorum:
    """``hosts``: a ZooKeeper connect string, ``h1:2181,h2:2181,…``."""
    return Quorum([probe(h.strip(), timeout) for h in hosts.split(",") if h.strip()])
