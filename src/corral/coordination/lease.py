"""Leader election for framework instances sharing one SQLite file: a renewed lease.

One row per election holds the holder, its expiry (wall clock, shared by the processes of one
host) and an epoch that grows at every change of holder. The holder renews it every third of
its time to live; a standby polls and takes the lease once it has expired. A holder that
could not renew before its own expiry, or finds someone else in the row, has lost: ``lost``
is set at once so the framework stops acting (fencing). ``claim`` is the pure rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("corral.coordination")


@dataclass(frozen=True)
class Lease:
    holder: str
    expires: float
    epoch: int


def claim(current: Lease | None, me: str, now: float, ttl: float) -> Lease | None:
    """The lease after ``me`` tries to take or renew it at ``now``; None if another holds it."""
    if current is None or current.expires <= now:
        return Lease(me, now + ttl, (current.epoch if current else 0) + 1)
    if current.holder == me:
        return Lease(me, now + ttl, current.epoch)
    return None


class LeaseTable:
    """The lease rows in a SQLite file (blocking; ``LeaseElection`` calls it from a thread)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=5.0
        )
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS leases "
            "(name TEXT PRIMARY KEY, holder TEXT, expires REAL, epoch INTEGER)"
        )

    def read(self, name: str) -> Lease | None:
        with self._lock:
            row = self._db.execute(
                "SELECT holder, expires, epoch FROM leases WHERE name = ?", (name,)
            ).fetchone()
        return Lease(str(row[0]), float(row[1]), int(row[2])) if row else None

    def try_claim(self, name: str, me: str, ttl: float, now: float | None = None) -> Lease | None:
        """Take or renew the lease in one write transaction; None if another holds it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT holder, expires, epoch FROM leases WHERE name = ?", (name,)
                ).fetchone()
                current = Lease(str(row[0]), float(row[1]), int(row[2])) if row else None
                lease = claim(current, me, time.time() if now is None else now, ttl)
                if lease is not None:
                    self._db.execute(
                        "INSERT INTO leases (name, holder, expires, epoch) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
                        "expires = excluded.expires, epoch = excluded.epoch",
                        (name, lease.holder, lease.expires, lease.epoch),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return lease

    def release(self, name: str, me: str) -> None:
        """Give the lease up now (it expires; the epoch stays, so the next holder's grows)."""
        with self._lock:
            self._db.execute(
                "UPDATE leases SET expires = 0 WHERE name = ? AND holder = ?", (name, me)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class LeaseElection:
    """``await campaign()`` returns once this instance holds the lease; ``lost`` is set the
    moment it no longer does. ``stop()`` releases it, so a standby takes over at once."""

    def __init__(self, path: Path, name: str, identifier: str, ttl: float = 5.0) -> None:
        self.table = LeaseTable(path)
        self.name = name
        self.identifier = identifier
        self.ttl = ttl
        self.lost = asyncio.Event()
        self.lease: Lease | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def campaign(self) -> None:
        while True:
            lease = await asyncio.to_thread(
                self.table.try_claim, self.name, self.identifier, self.ttl
            )
            if lease is not None:
                self.lease = lease
                log.info("%s leads %s (epoch %d)", self.identifier, self.name, lease.epoch)
                self._renewer = asyncio.get_running_loop().create_task(self._renew())
                return
            await asyncio.sleep(min(self.ttl / 5, 0.5))

    async def _renew(self) -> None:
        while self.lease is not None:
            await asyncio.sleep(self.ttl / 3)
            try:
                lease = await asyncio.to_thread(
                    self.table.try_claim, self.name, self.identifier, self.ttl
                )
            except sqlite3.Error as exc:
                log.warning("renewing the lease of %s failed: %s", self.name, exc)
                if self.lease is not None and time.time() < self.lease.expires:
                    continue
                lease = None
            if lease is None or (self.lease is not None and lease.epoch != self.lease.epoch):
                # Another instance holds it, or ours lapsed before we could renew it.
                log.warning("%s lost the lease of %s", self.identifier, self.name)
                self.lease = None
                self.lost.set()
                return
            self.lease = lease

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self.lease is not None:
            self.lease = None
            await asyncio.to_thread(self.table.release, self.name, self.identifier)
        await asyncio.to_thread(self.table.close)
