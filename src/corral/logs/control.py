"""The process's log level at run time (the shell around ``levels``): applies a toggle to
the root logger and reverts it when its duration ends (a timer on the running loop)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from corral.logs import levels

log = logging.getLogger("corral.logs")


class LevelControl:
    def __init__(self, base: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = levels.LevelState(base=base, current=base)
        self._clock = clock
        self._timer: asyncio.TimerHandle | None = None

    @property
    def current(self) -> int:
        return self.state.current

    def toggle(self, glog: int, duration: float) -> None:
        """Raises ValueError for a level below 0 or a duration that is not positive."""
        self.state = levels.toggle(self.state, glog, duration, self._clock())
        self._apply()
        log.warning(
            "log level set to %s (glog %d) for %gs", logging.getLevelName(self.current),
            glog, duration,
        )  # fmt: skip
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(duration, self._tick)

    def _tick(self) -> None:
        self._timer = None
        before = self.state
        self.state = levels.expire(self.state, self._clock())
        if self.state.revert_at is not None:  # the clock ran behind the timer: look again
            delay = max(0.0, self.state.revert_at - self._clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._tick)
        elif before != self.state:
            self._apply()
            log.warning("log level reverted to %s", logging.getLevelName(self.current))

    def _apply(self) -> None:
        logging.getLogger().setLevel(self.current)


_control: LevelControl | None = None


def control() -> LevelControl:
    """The process's level control (made by ``setup.configure``, or from the root logger's
    level in a process that did not call it, e.g. under tests)."""
    global _control
    if _control is None:
        _control = LevelControl(logging.getLogger().getEffectiveLevel())
    return _control


def install(base: int) -> LevelControl:
    global _control
    _control = LevelControl(base)
    return _control
