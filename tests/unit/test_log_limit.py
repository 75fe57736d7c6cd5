"""Rate-limited logging and the launcher's orphan rule (pure)."""

from __future__ import annotations

import logging

import pytest

from corral.agent.launcher import orphaned
from corral.log_limit import LimitedLog, Limiter


def test_the_same_message_at_most_once_per_interval_then_the_count() -> None:
    lim = Limiter(interval=10)
    assert lim.admit("lost", 0.0) == (True, 0)
    assert [lim.admit("lost", t)[0] for t in (1.0, 2.0, 9.9)] == [False, False, False]
    assert lim.admit("other", 5.0) == (True, 0)  # another message has its own budget
    assert lim.admit("lost", 10.0) == (True, 3)
    assert lim.admit("lost", 25.0) == (True, 0)


def test_limited_log_says_how_many_were_held(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = LimitedLog(logging.getLogger("t.limit"), interval=10, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="t.limit"):
        for i in range(34_000):
            now[0] = i / 34_000
            log.error("lost the launcher; reconnecting")
        now[0] = 11.0
        log.error("lost the launcher; reconnecting")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == [
        "lost the launcher; reconnecting",
        "lost the launcher; reconnecting (and 33999 more time(s) in the last 10 s)",
    ]


def test_a_launcher_is_orphaned_after_the_recovery_timeout_without_an_agent() -> None:
    assert not orphaned(None, 1000.0, 5)  # an agent is connected
    assert not orphaned(100.0, 104.9, 5)
    assert orphaned(100.0, 105.0, 5)
    assert not orphaned(100.0, 10_000.0, 0)  # 0: never
