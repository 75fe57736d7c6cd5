"""The agent's side of the launcher: start it once, (re)connect, send requests, get events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from corral.agent import launcher_protocol as p
from corral.agent.launcher import PID_NAME, SOCKET_NAME
from corral.logs import setup as log_setup

log = logging.getLogger("corral.agent")


class LauncherClient:
    def __init__(self, work_dir: Path, on_reply: Callable[[p.Reply], None]) -> None:
        self.work_dir = work_dir
        self.on_reply = on_reply
        self.writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf: list[bytes] = []
        self._listing: asyncio.Future[p.Listing] | None = None
        self._closing = False
        self._flush_scheduled = False

    @property
    def pid(self) -> int | None:
        try:
            return int((self.work_dir / PID_NAME).read_text())
        except (OSError, ValueError):
            return None

    async def connect(self, timeout: float = 10.0) -> None:
        """Connect to a running launcher, or start one (it outlives this agent)."""
        sock = str(self.work_dir / SOCKET_NAME)
        try:
            reader, writer = await asyncio.open_unix_connection(sock)
        except OSError:
            self._start()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                try:
                    reader, writer = await asyncio.open_unix_connection(sock)
                    break
                except OSError:
                    if loop.time() > deadline or (self._proc and self._proc.poll() is not None):
                        raise RuntimeError(
                            f"launcher did not start; see {self.work_dir / 'launcher.log'}"
                        ) from None
                    await asyncio.sleep(0.01)
        self.writer = writer
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    def _start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.work_dir / "launcher.log", "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ)
        self._proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "corral.agent.launcher", "--work-dir", str(self.work_dir)),
                *log_setup.child_args(),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd="/",
        )
        log.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                self._dispatch(p.reply_decoder.decode(line))
            except Exception:
                log.exception("handling a launcher event failed: %r", line[:200])
        if not self._closing:
            # The launcher went away (killed?): start or reach it again, then resync.
            log.error("lost the launcher; reconnecting")
            self.writer = None
            asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                await self.connect()
                self.send(p.ListRequest())
                return
            except (OSError, RuntimeError) as exc:
                log.error("cannot reach the launcher: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _dispatch(self, reply: p.Reply) -> None:
        if isinstance(reply, p.Listing) and self._listing is not None:
            if not self._listing.done():
                self._listing.set_result(reply)
            return
        self.on_reply(reply)

    async def list(self, timeout: float = 10.0) -> p.Listing:
        """The launcher's containers: running (id -> pid) and exited (id -> wait status)."""
        self._listing = asyncio.get_running_loop().create_future()
        self.send(p.ListRequest())
        try:
            return await asyncio.wait_for(self._listing, timeout)
        finally:
            self._listing = None

    def send(self, req: p.Request) -> None:
        self._buf.append(p.encoder.encode(req) + b"\n")
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.writer is None:
            return
        self.writer.write(b"".join(self._buf))
        self._buf.clear()

    def closing(self) -> None:
        """The agent is stopping: a launcher that goes away now is not to be restarted."""
        self._closing = True

    async def close(self) -> None:
        self._closing = True
        if self._reader_task:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self.writer:
            self._flush()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        if self._proc is not None:
            # The launcher is deliberately left running; don't leave a zombie if it exits later.
            self._proc.returncode = None
