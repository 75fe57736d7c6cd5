"""A framework's durable state, and the election between its instances, in one place.

``open_state(location, name)`` gives a ``FrameworkState``: an async ``Store`` (SQLite under a
work dir, or ZooKeeper under a ``zk://`` path) and the ``Election`` that instances sharing it
hold. Everything blocking runs in a thread (``corral.coordination``), so the event loop never
waits on the disk or on ZooKeeper.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote

from corral.coordination.async_kv import AsyncKeyValueStore
from corral.coordination.embedded import SqliteKeyValueStore
from corral.coordination.interfaces import KeyValueStore
from corral.coordination.lease import LeaseElection
from corral.coordination.url import is_zk_url

FRAMEWORK_ID = "framework_id"


class Election(Protocol):
    """Leadership among a framework's instances. ``lost`` is set the moment it ends."""

    lost: asyncio.Event

    async def campaign(self) -> None: ...

    async def stop(self) -> None: ...


class Store:
    """Async key-value store for a framework. Keys are any strings (quoted for ZooKeeper)."""

    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = AsyncKeyValueStore(kv)

    async def get(self, key: str) -> bytes | None:
        return await self._kv.get(quote(key, safe=""))

    async def put(self, key: str, value: bytes) -> None:
        await self._kv.put(quote(key, safe=""), value)

    async def put_many(self, items: list[tuple[str, bytes]]) -> None:
        await self._kv.put_many([(quote(k, safe=""), v) for k, v in items])

    async def delete(self, key: str) -> None:
        await self._kv.delete(quote(key, safe=""))

    async def keys(self, prefix: str = "") -> list[str]:
        return sorted(unquote(k) for k in await self._kv.keys(quote(prefix, safe="")))

    async def framework_id(self) -> str | None:
        value = await self.get(FRAMEWORK_ID)
        return value.decode() if value else None

    async def set_framework_id(self, framework_id: str) -> None:
        await self.put(FRAMEWORK_ID, framework_id.encode())

    async def close(self) -> None:
        await self._kv.close()


@dataclass
class FrameworkState:
    store: Store
    election: Election
    location: str

    async def close(self) -> None:
        await self.election.stop()
        await self.store.close()


def instance_id() -> str:
    """Who this instance is, as other instances see it in the election."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def open_state(
    location: str | Path, name: str, *, lease_ttl: float = 5.0, session_timeout: float = 10.0
) -> FrameworkState:
    """The store and election of framework ``name`` at ``location``.

    ``location`` is a directory (SQLite file ``<dir>/<name>.sqlite``; instances on one host
    share it and elect through a lease row renewed every ``lease_ttl / 3`` seconds) or a
    ``zk://host:port,.../path`` URL (a ZooKeeper lock; the session timeout bounds takeover).
    """
    text = str(location)
    if not name or "/" in name:
        raise ValueError(f"framework name {name!r}: must be non-empty without '/'")
    me = instance_id()
    if is_zk_url(text):
        from corral.coordination.zookeeper import FrameworkElection

        election = FrameworkElection(text, name, me, session_timeout=session_timeout)
        await election.start()
        zk_store = await asyncio.to_thread(election.store)
        return FrameworkState(Store(zk_store), election, text)
    path = Path(text) / f"{name}.sqlite"
    kv = await asyncio.to_thread(SqliteKeyValueStore, path, "state")
    lease = await asyncio.to_thread(LeaseElection, path, name, me, lease_ttl)
    return FrameworkState(Store(kv), lease, text)


__all__ = ["Election", "FrameworkState", "Store", "instance_id", "open_state"]
