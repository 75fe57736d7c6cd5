"""The agent's side of the launcher: start it once, (re)connect, send requests, get events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from corral.agent import launcher_protocol as p
from corral.agent.launcher import PID_NAME, SOCKET_NAME
from corral.log_limit import LimitedLog
from corral.logs import setup as log_setup
from corral.transport.link import Backoff

log = logging.getLogger("corral.agent")

STABLE = 5.0  # a connection that lasted this long resets the reconnection backoff
BACKOFF = Backoff(base=0.05, cap=5.0)
GIVE_UP = 60.0  # the launcher could not be reached or started for this long: the agent exits


class LauncherClient:
    def __init__(
        self,
        work_dir: Path,
        on_reply: Callable[[p.Reply], None],
        *,
        recovery_timeout: float = 900.0,
        on_gone: Callable[[str], None] | None = None,
    ) -> None:
        """``recovery_timeout``: given to a launcher this client starts (it kills its tasks
        and exits when no agent has come back for that long); ``on_gone(why)``: called when
        the launcher cannot be reached or restarted for ``GIVE_UP`` seconds."""
        self.work_dir = work_dir
        self.on_reply = on_reply
        self.recovery_timeout = recovery_timeout
        self.on_gone = on_gone
        self.limited = LimitedLog(log)
        self.attempts = 0  # reconnections since the last connection that lasted
        self.connected_at = 0.0
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
        self.connected_at = time.monotonic()
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    def _start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.work_dir / "launcher.log", "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "corral.agent.launcher",
                "--work-dir",
                str(self.work_dir),
                "--recovery-timeout",
                f"{self.recovery_timeout:g}",
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
            # The launcher went away (killed? another agent took its socket?): start or reach
            # it again, then resync; backing off while connections do not last.
            lasted = time.monotonic() - self.connected_at
            self.attempts = 0 if lasted >= STABLE else self.attempts + 1
            self.limited.error("lost the launcher; reconnecting")
            self.writer = None
            asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        since = time.monotonic()
        while not self._closing:
            await asyncio.sleep(BACKOFF.delay(self.attempts, random.random()))
            try:
                await self.connect()
                self.send(p.ListRequest())
                return
            except (OSError, RuntimeError) as exc:
                self.attempts += 1
                self.limited.error("cannot reach the launcher: %s", exc)
                if time.monotonic() - since >= GIVE_UP and self.on_gone is not None:
                    self.on_gone(
                        f"the launcher could not be reached or restarted for {GIVE_UP:g} s: {exc}"
                    )
                    return

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
