"""A batch of puts is one transaction in SQLite, and one ACCEPT's records are one batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral.coordination.embedded import SqliteKeyValueStore
from corral.scheduler_client.store import Store


def test_put_many_writes_every_item_and_overwrites(tmp_path: Path) -> None:
    kv = SqliteKeyValueStore(tmp_path / "s.sqlite")
    kv.put("a", b"old")
    kv.put_many([("a", b"1"), ("b", b"2"), ("c/d", b"3")])
    assert [kv.get(k) for k in ("a", "b", "c/d")] == [b"1", b"2", b"3"]
    kv.put_many([])
    assert kv.keys() == ["a", "b", "c/d"]
    kv.close()


def test_store_put_many_quotes_keys_like_put(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store(SqliteKeyValueStore(tmp_path / "s.sqlite"))
        await store.put_many([("task/x.1", b"1"), ("task/x.2", b"2")])
        assert await store.keys("task/") == ["task/x.1", "task/x.2"]
        assert await store.get("task/x.2") == b"2"
        await store.close()

    asyncio.run(main())


def test_one_accepts_records_are_written_in_one_batch() -> None:
    from test_toolkit_framework import Web, ready

    from corral.scheduler_client import FrameworkCore
    from corral.scheduler_client.testing import FakeMaster, MemoryKV

    class Counting(MemoryKV):
        batches: list[int] = []

        def put_many(self, items: list[tuple[str, bytes]]) -> None:
            self.batches.append(len(items))
            super().put_many(items)

    async def main() -> None:
        kv = Counting()
        fake = FakeMaster(FrameworkCore(Web(4), Store(kv)))
        fake.add_agent()
        await ready(fake)
        await fake.offer()
        assert len(fake.launched()) == 4
        assert kv.batches == [4]  # persisted before the ACCEPT, all at once
        assert len(kv.keys("task")) == 4

    asyncio.run(main())
