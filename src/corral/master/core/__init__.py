"""The master's functional core: plain-data state changed only by ``handle(state, event, now)``,
which returns effects for the shell (``corral.master.shell``) to carry out.

Nothing in this package reads a clock, opens a socket, arms a timer or starts a thread; it
imports no asyncio, aiohttp, time, threading, socket, kazoo or docker."""

from corral.master.core.handle import handle
from corral.master.core.state import MasterState

__all__ = ["MasterState", "handle"]
