"""The driver and a framework's callbacks: an exception is logged with its traceback and the
connection stays up, or (by the framework's choice) the driver stops cleanly and says why."""

from __future__ import annotations

import asyncio
import logging

import pytest
from recorder import Recorder, framework_info

from corral.scheduler_client import CallbackFailed, SchedulerDriver
from corral.testing import LocalCluster
from corral.wire.scheduler import Offer

pytestmark = pytest.mark.integration


class Flaky(Recorder):
    """Raises on the first batch of offers."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.dropped: list[Offer] = []

    def offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        self.calls += 1
        self._poke()
        if self.calls == 1:
            self.dropped = offers
            raise ValueError("bad offer handling")
        super().offers(driver, offers)


async def test_callback_error_is_logged_and_the_connection_stays(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Flaky()
    driver = SchedulerDriver(cluster.master, framework_info(), rec)
    runner = asyncio.create_task(driver.run())
    try:
        await asyncio.wait_for(driver.connected.wait(), 15)
        await rec.wait_for(lambda: rec.calls >= 1, what="the first offers")
        # Hand the dropped offers back: they come again on the same connection.
        stream = driver.stream_id
        await driver.decline([o.id.value for o in rec.dropped], refuse_seconds=0)
        await rec.next_offer(timeout=20)
        assert driver.stream_id == stream and driver.connected.is_set()
        failures = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert failures and failures[0].exc_info is not None
        assert "bad offer handling" in caplog.text and "Traceback" in caplog.text
    finally:
        await driver.stop()
        await asyncio.wait_for(runner, 10)


async def test_callback_error_can_stop_the_driver(cluster: LocalCluster) -> None:
    rec = Flaky()
    driver = SchedulerDriver(cluster.master, framework_info(), rec, on_callback_error="stop")
    with pytest.raises(CallbackFailed) as failed:
        await asyncio.wait_for(driver.run(), 20)
    assert isinstance(failed.value.__cause__, ValueError)
    assert rec.calls == 1  # nothing more was delivered after the failure
