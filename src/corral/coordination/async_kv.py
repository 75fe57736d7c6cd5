"""A key-value store the event loop can await: each operation runs in a worker thread.

The stores behind it (SQLite, ZooKeeper through kazoo) block; wrapping them here keeps the
asyncio loop free whichever one a framework chose.
"""

from __future__ import annotations

import asyncio

from corral.coordination.interfaces import KeyValueStore


class AsyncKeyValueStore:
    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self.kv.get, key)

    async def put(self, key: str, value: bytes) -> None:
        await asyncio.to_thread(self.kv.put, key, value)

    async def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Every put in one trip to the worker thread (and one transaction in SQLite)."""
        if items:
            await asyncio.to_thread(self.kv.put_many, items)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.kv.delete, key)

    async def keys(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self.kv.keys, prefix)

    async def close(self) -> None:
        await asyncio.to_thread(self.kv.close)
