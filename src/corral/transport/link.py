"""One link to the leading master, for the agent, the scheduler SDK and the simulated agents.

Who leads comes from a ``LeaderSource``: a fixed ``host:port``, or the master a ``zk://`` group
names (one ZooKeeper session per source, however many links share it). A ``LeaderLink`` runs a
client's connection to that leader again and again: it follows a master's ``307 Location`` to
the leader (only with a fixed address: a client following ZooKeeper never follows a standby's
307, which may point at a stale leader), backs off with jitter after failures (reset once a
connection is up), retries quickly while an election is under way (503, a standby's 307, a
leader ZooKeeper named a moment ago), and reconnects at once when the leader changes.

The decisions are pure (``Backoff.delay``, ``decide``, ``address_in``) and tested without an
event loop; ``LeaderSource`` and ``LeaderLink`` are the thin async shell around them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from corral.coordination.url import is_zk_url

if TYPE_CHECKING:
    from corral.coordination.zookeeper import LeaderDetector

log = logging.getLogger("corral.transport.link")


# ---------------------------------------------------------------------------- pure decisions
@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``min(cap, base * 2**min(attempt, max_exponent))``
    scaled by a factor drawn uniformly from ``[jitter_low, jitter_high)``."""

    base: float
    cap: float
    max_exponent: int = 30
    jitter_low: float = 0.5
    jitter_high: float = 1.0

    def delay(self, attempt: int, rnd: float) -> float:
        """The wait before ``attempt`` (1 for the first retry); ``rnd`` is uniform in [0, 1)."""
        scale = self.jitter_low + (self.jitter_high - self.jitter_low) * rnd
        return min(self.cap, self.base * 2.0 ** min(attempt, self.max_exponent)) * scale


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """How one kind of client reconnects (shared by all its links: it holds no state)."""

    backoff: Backoff
    # While an election is under way, retry after a delay drawn from [low, high) instead of
    # backing off; None: back off as after any failure.
    election_retry: tuple[float, float] | None = (0.1, 0.25)
    # Following ZooKeeper, retry quickly this many times after a leader change or a
    # connection (the leader it names may still be recovering); None: always.
    election_attempts: int | None = 20
    max_redirects: int = 5  # 307s followed in a row before backing off from the home address
    give_up_on_client_error: bool = False  # a 4xx ends the link (raised out of ``run``)
    min_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class LinkState:
    """Where a link's next attempt goes, and its failures since the last connection."""

    address: str | None  # None: no leader known (wait for one)
    attempt: int = 0
    redirects: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    """How an attempt ended: refused with an HTTP status, or (``status`` None) unreachable,
    timed out or closed after it served."""

    status: int | None = None
    location: str | None = None  # a 307's Location


@dataclass(frozen=True, slots=True)
class Next:
    state: LinkState
    delay: float  # seconds to wait before the next attempt (a leader change cuts it short)
    down: bool  # the client lost (or never got) its connection; False when following a 307


def address_in(location: str) -> str:
    """``host:port`` of a master URL or a 307's Location (``//host:port/path``, ``http://…``)."""
    for prefix in ("http://", "//"):
        if location.startswith(prefix):
            location = location[len(prefix) :]
            break
    return location.split("/", 1)[0]


def connected(state: LinkState) -> LinkState:
    """A connection is up: the next failure starts the backoff afresh."""
    return LinkState(state.address)


def decide(
    policy: LinkPolicy,
    state: LinkState,
    failure: Failure,
    *,
    following_zk: bool,
    home: str | None,
    leader_changed: bool,
    rnd: float,
) -> Next:
    """What to do after ``failure``. ``home`` is where a link goes when it has nowhere better:
    the fixed address it was given, or the leader ZooKeeper names (``following_zk``);
    ``leader_changed``: ZooKeeper named another leader during the attempt."""
    if leader_changed:
        return Next(LinkState(home), 0.0, down=True)
    status = failure.status
    if status == 307 and failure.location and not following_zk:
        if state.redirects < policy.max_redirects:
            followed = LinkState(address_in(failure.location), state.attempt, state.redirects + 1)
            return Next(followed, 0.0, down=False)
        status = None  # redirected in circles: back off from home
    attempt = state.attempt + 1
    election = status == 503 or (status == 307 and (following_zk or not failure.location))
    limit = policy.election_attempts
    if following_zk and (limit is None or state.attempt < limit):
        election = True  # the leader ZooKeeper named a moment ago may still be recovering
    if election and policy.election_retry is not None:
        low, high = policy.election_retry
        delay = low + (high - low) * rnd
    else:
        delay = policy.backoff.delay(attempt, rnd)
    return Next(LinkState(home, attempt), max(delay, policy.min_delay), down=True)


# ---------------------------------------------------------------------------- the shell
class Refused(Exception):
    """The master answered an attempt with an HTTP status instead of serving it."""

    def __init__(self, status: int, location: str | None = None, text: str = "") -> None:
        super().__init__(f"HTTP {status}: {text or location or ''}")
        self.status = status
        self.location = location
        self.text = text


def refused_handshake(exc: aiohttp.WSServerHandshakeError) -> Refused:
    """A refused WebSocket handshake as a ``Refused`` (with a 307's Location)."""
    location = str(exc.headers.get("Location", "")) if exc.headers else ""
    return Refused(exc.status, location or None, exc.message)


async def refuse_redirect(
    session: aiohttp.ClientSession, ctx: object, params: aiohttp.TraceRequestRedirectParams
) -> None:
    """Stop aiohttp following a redirect (``ws_connect`` cannot be told not to): the link
    decides, and a client following ZooKeeper must not follow a standby to a stale leader."""
    resp = params.response
    resp.close()
    raise Refused(resp.status, resp.headers.get("Location"), "redirected")


def link_client() -> aiohttp.ClientSession:
    """An HTTP client on which every redirect comes back to the link as ``Refused``."""
    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(refuse_redirect)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trace_configs=[trace])


def wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LeaderSource:
    """Who leads, for any number of links in this process: a fixed ``host:port``, or what a
    ``zk://`` group says (through one ZooKeeper session, started by ``start``)."""

    def __init__(self, master: str, *, session_timeout: float = 10.0) -> None:
        self.zk_url = master if is_zk_url(master) else None
        self.home: str | None = None if self.zk_url else address_in(master)
        self.leader: str | None = self.home
        self.generation = 0  # counts leader changes
        self.session_timeout = session_timeout
        self._detector: LeaderDetector | None = None
        self._listeners: list[Callable[[str | None], None]] = []
        self.waiters: set[asyncio.Future[None]] = set()  # links pausing until a change
        self._client: aiohttp.ClientSession | None = None

    @property
    def following_zk(self) -> bool:
        return self.zk_url is not None

    def subscribe(self, listener: Callable[[str | None], None]) -> None:
        """Call ``listener(address | None)`` whenever ZooKeeper names another leader."""
        self._listeners.append(listener)

    async def start(self) -> None:
        if self.zk_url is not None and self._detector is None:
            from corral.coordination.zookeeper import LeaderDetector

            self._detector = LeaderDetector(self.zk_url, self.set_leader, self.session_timeout)
            await self._detector.start()

    def client(self) -> aiohttp.ClientSession:
        """The HTTP client for this source's links (made on first use, closed by ``stop``):
        it follows no redirect by itself, so each 307 is the link's to decide."""
        if self._client is None:
            self._client = link_client()
        return self._client

    async def stop(self) -> None:
        if self._detector is not None:
            await self._detector.stop()
            self._detector = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    def set_leader(self, address: str | None) -> None:
        """ZooKeeper names ``address`` (None: no leader): links reconnect at once."""
        if address == self.leader:
            return
        log.debug("leading master: %s -> %s", self.leader, address)
        self.leader = address
        self.generation += 1
        for listener in list(self._listeners):
            listener(address)
        for waiter in list(self.waiters):
            wake(waiter)


Session = Callable[[str], Awaitable[None]]
OnDown = Callable[[str, BaseException | None], Awaitable[None]]


class LeaderLink:
    """One client's connection to the leader, made again until ``stop``.

    ``run(session, on_down)`` calls ``session(address)`` for each attempt: it connects, calls
    ``up()`` once the connection is up, serves until the connection ends, and returns (or raises
    a network error: ``TimeoutError``, ``OSError``, ``aiohttp.ClientError``, or ``Refused`` for
    an HTTP status). ``on_down(address, error)`` runs after an attempt that lost or never got
    its connection (not after following a 307). A link holds only its state: many can share
    one source and one policy.
    """

    __slots__ = ("policy", "random", "seen", "source", "state", "stopped", "waiter")

    def __init__(
        self,
        source: LeaderSource,
        policy: LinkPolicy,
        rnd: Callable[[], float] = random.random,
    ) -> None:
        self.source = source
        self.policy = policy
        self.state = LinkState(source.leader)
        self.seen = source.generation  # the source's generation ``state`` reflects
        self.random = rnd
        self.stopped = False
        self.waiter: asyncio.Future[None] | None = None  # while pausing

    @property
    def address(self) -> str | None:
        """The master this link talks to (or will try next)."""
        return self.state.address

    def up(self) -> None:
        self.state = connected(self.state)

    def stop(self) -> None:
        """End ``run`` after the current attempt (or at once, if it is waiting)."""
        self.stopped = True
        if self.waiter is not None:
            wake(self.waiter)

    def stopping(self) -> bool:
        return self.stopped

    async def run(self, session: Session, on_down: OnDown) -> None:
        source = self.source
        while not self.stopped:
            if source.generation != self.seen:  # a new leader: go there now
                self.state = LinkState(source.leader)
                self.seen = source.generation
            address = self.state.address
            if address is None:
                await self.pause(None)
                continue
            failure = Failure()
            error: BaseException | None = None
            try:
                await session(address)
            except Refused as exc:
                if self.policy.give_up_on_client_error and 400 <= exc.status < 500:
                    raise
                failure, error = Failure(exc.status, exc.location), exc
            except (TimeoutError, OSError, aiohttp.ClientError) as exc:
                error = exc
            if self.stopping():
                break
            changed = source.generation != self.seen
            step = decide(
                self.policy,
                self.state,
                failure,
                following_zk=source.following_zk,
                home=source.leader,
                leader_changed=changed,
                rnd=self.random(),
            )
            self.state, self.seen = step.state, source.generation
            if step.down:
                await on_down(address, error)
            if step.delay > 0 and not self.stopping():
                await self.pause(step.delay)

    async def pause(self, delay: float | None) -> None:
        """Wait ``delay`` seconds (None: until a leader change), cut short by a leader change
        or ``stop``."""
        source = self.source
        if source.generation != self.seen or self.stopped:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(delay, wake, waiter) if delay is not None else None
        source.waiters.add(waiter)
        self.waiter = waiter
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            source.waiters.discard(waiter)
            self.waiter = None
