"""A RecordIO event stream over one chunked HTTP response, with coalesced writes."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from corral.wire.recordio import frame


class EventStream:
    """Queue events with ``send`` (never blocks); a writer task flushes them in batches."""

    def __init__(
        self, response: web.StreamResponse, heartbeat: bytes | None, interval: float
    ) -> None:
        self.response = response
        self._pending: list[bytes] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._heartbeat = heartbeat
        self._interval = interval

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def backlog(self) -> int:
        """Records queued and not yet handed to the connection."""
        return len(self._pending)

    def send(self, event: bytes) -> None:
        if self._closed:
            return
        self._pending.append(frame(event))
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Write until closed or the peer goes away."""
        try:
            while True:
                if not self._pending and not self._closed:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._interval)
                    except TimeoutError:
                        if self._heartbeat is not None:
                            self._pending.append(frame(self._heartbeat))
                self._wake.clear()
                if self._pending:
                    data = b"".join(self._pending)
                    self._pending.clear()
                    await self.response.write(data)
                if self._closed:
                    break
        except (ConnectionError, asyncio.CancelledError, RuntimeError):
            pass
        finally:
            self._closed = True
            with contextlib.suppress(Exception):
                await self.response.write_eof()
