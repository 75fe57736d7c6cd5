"""Port mapping for tasks in a private network namespace (``--isolation network/private``).

A task in its own network namespace sees only its loopback. For each port of its ``ports``
resources, the launcher listens on the agent's address in the host's namespace and forwards
each connection to the same port on the task's loopback. The forwarding socket is created inside
the task's namespace (a socket stays in the namespace it was made in), so nothing is routed, no
interface is added and the host's firewall is not touched. The listening sockets are bound
before the task is spawned: a port that cannot be had fails the launch.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Callable

MAX_MAPPED_PORTS = 128
BUFFER = 64 * 1024


def bind_ports(ip: str, ports: list[int]) -> list[socket.socket]:
    """Listening sockets on ``ip`` for every port; OSError (naming the port) if one is taken."""
    if len(ports) > MAX_MAPPED_PORTS:
        raise OSError(
            7, f"network/private maps at most {MAX_MAPPED_PORTS} ports a task ({len(ports)} given)"
        )
    bound: list[socket.socket] = []
    try:
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            bound.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError as exc:
                raise OSError(exc.errno, f"cannot map port {ip}:{port}: {exc.strerror}") from None
            s.listen(128)
            s.setblocking(False)
    except BaseException:
        for s in bound:
            s.close()
        raise
    return bound


class PortMap:
    """The forwarding of one task's ports into its network namespace."""

    def __init__(
        self, listeners: list[socket.socket], open_inside: Callable[[], socket.socket]
    ) -> None:
        self.listeners = listeners
        self.open_inside = open_inside  # a new TCP socket in the task's network namespace
        self.servers: list[asyncio.Server] = []
        self.connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for sock in self.listeners:
            server = await asyncio.start_server(self._accepted(sock.getsockname()[1]), sock=sock)
            self.servers.append(server)

    def _accepted(self, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], None]:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.get_running_loop().create_task(self._forward(reader, writer, port))
            self.connections.add(task)
            task.add_done_callback(self.connections.discard)

        return accepted

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        inside: socket.socket | None = None
        try:
            inside = self.open_inside()
            inside.setblocking(False)
            await asyncio.get_running_loop().sock_connect(inside, ("127.0.0.1", port))
            in_reader, in_writer = await asyncio.open_connection(sock=inside)
            inside = None  # the stream owns it now
        except OSError as exc:
            print(f"launcher: port {port}: cannot reach the task: {exc}", file=sys.stderr)
            writer.close()
            if inside is not None:
                inside.close()
            return
        try:
            await asyncio.gather(_pipe(reader, in_writer), _pipe(in_reader, writer))
        finally:
            for w in (writer, in_writer):
                w.close()

    def close(self) -> None:
        for server in self.servers:
            server.close()
        for sock in self.listeners:
            sock.close()
        for task in self.connections:
            task.cancel()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
