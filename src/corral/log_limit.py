"""Rate-limited logging: the same message at most once per interval, then how many times it
was held back (an agent once logged "lost the launcher" 34,000 times in a second)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Limiter:
    """Pure: ``admit(key, now)`` says whether to log now, and how many were held back."""

    interval: float = 10.0
    last: dict[str, float] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)

    def admit(self, key: str, now: float) -> tuple[bool, int]:
        at = self.last.get(key)
        if at is not None and now - at < self.interval:
            self.held[key] = self.held.get(key, 0) + 1
            return False, 0
        self.last[key] = now
        return True, self.held.pop(key, 0)


class LimitedLog:
    """A logger's calls with ``Limiter`` in front, keyed by the message's format string."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.limiter = Limiter(interval)
        self.clock = clock

    def log(self, level: int, msg: str, *args: object) -> None:
        ok, held = self.limiter.admit(msg, self.clock())
        if not ok:
            return
        if held:
            msg += f" (and {held} more time(s) in the last {self.limiter.interval:g} s)"
        self.logger.log(level, msg, *args)

    def error(self, msg: str, *args: object) -> None:
        self.log(logging.ERROR, msg, *args)

    def warning(self, msg: str, *args: object) -> None:
        self.log(logging.WARNING, msg, *args)
