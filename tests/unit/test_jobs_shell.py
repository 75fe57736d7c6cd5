"""The jobs shell: a run's group reaches desired() only once its record is in the store."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any
from urllib.parse import unquote

from corral.frameworks.jobs.framework import JobsShell
from corral.frameworks.jobs.model import decode_job
from corral.frameworks.jobs.runs import decode_run
from corral.scheduler_client.store import Store


class SlowKv:
    """A key-value store whose puts wait until ``release`` is set."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.release = threading.Event()

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.release.wait(5)
        self.data[key] = value

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        self.release.wait(5)
        self.data.update(items)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))

    def close(self) -> None:
        pass


class FakeState:
    def __init__(self, kv: SlowKv) -> None:
        self.store = Store(kv)


class FakeRunner:
    def __init__(self, kv: SlowKv) -> None:
        self.state: Any = FakeState(kv)
        self.core = None
        self.driver = None
        self.leading = asyncio.Event()
        self.fenced = False


async def test_a_run_is_written_before_it_is_wanted() -> None:
    kv = SlowKv()
    shell = JobsShell()
    runner = FakeRunner(kv)
    shell.runner = runner  # type: ignore[assignment]
    writer = asyncio.create_task(shell.write_forever())
    shell.ready.set()
    try:
        now = time.time()
        job = decode_job({"name": "a", "command": "true", "schedule": "R1//PT1H"})
        done = shell.submit(shell.core.add_job(job, now))
        await asyncio.sleep(0.1)
        assert shell.core.wanted(time.time())  # the core wants it ...
        assert shell.goals() == []  # ... but it is not written yet: no goal
        kv.release.set()
        await asyncio.wait_for(done, 5)
        (goal,) = shell.goals()
        (key,) = [k for k in kv.data if unquote(k).startswith("run/a/")]
        assert goal.group == decode_run(kv.data[key]).group
    finally:
        writer.cancel()
        await shell.close()
