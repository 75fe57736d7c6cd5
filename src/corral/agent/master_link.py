"""The agent's link to the leading master: the WebSocket (found and re-found through
``transport/link.py``), registration on every connection, coalesced writes, and the silence
after which the agent reconnects. What comes down goes to the agent's core as events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp

from corral.security.client import ClientSecurity
from corral.transport.link import Backoff, LeaderLink, LeaderSource, LinkPolicy, refused_handshake
from corral.wire import agent as msg
from corral.wire.codec import encode

log = logging.getLogger("corral.agent")


def link_policy(backoff_factor: float) -> LinkPolicy:
    """How an agent reconnects: backoff from ``--registration-backoff-factor`` (full jitter,
    at most a minute); retried quickly while an election is under way and, following
    ZooKeeper, always (the leader it names may not answer yet, or a standby it reaches may
    still redirect to the old one)."""
    return LinkPolicy(
        backoff=Backoff(
            base=backoff_factor, cap=60.0, max_exponent=6, jitter_low=0.0, jitter_high=1.0
        ),
        election_attempts=None,
        min_delay=0.05,
    )


class MasterLink:
    """One WebSocket at a time to the leading master.

    ``register`` makes the message sent first on every connection, ``deliver`` takes each
    message from the master, ``lost`` is told when a connection ends (and says whether the
    agent was registered), and ``flush`` runs before each batch goes out (so the journals
    hold what the messages announce)."""

    def __init__(
        self,
        master: str,
        *,
        session_timeout: float,
        backoff_factor: float,
        master_timeout: float,
        register: Callable[[], msg.RegisterAgent],
        deliver: Callable[[msg.MasterToAgent], None],
        lost: Callable[[], bool],
        flush: Callable[[], None],
        client: ClientSecurity | None = None,
    ) -> None:
        self.client = client or ClientSecurity()
        self.ssl = self.client.ssl_context()
        self.leader = LeaderSource(master, session_timeout=session_timeout)
        self.leader.subscribe(self.on_leader)
        self.link = LeaderLink(self.leader, link_policy(backoff_factor))
        self.master_timeout = master_timeout
        self.register = register
        self.deliver = deliver
        self.lost = lost
        self.flush = flush
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.last_heard = 0.0
        self.out: list[msg.AgentToMaster] = []
        self.out_wake = asyncio.Event()

    async def start(self) -> None:
        await self.leader.start()

    async def stop(self) -> None:
        self.link.stop()
        if self.ws is not None:
            await self.ws.close()
        await self.leader.stop()

    def send(self, m: msg.AgentToMaster) -> None:
        """Queue a message for the master (dropped while there is no link)."""
        if self.ws is None:
            return
        self.out.append(m)
        self.out_wake.set()

    def reconnect(self) -> None:
        """Drop the current connection; the link connects (and registers) again."""
        if self.ws is not None:
            asyncio.get_running_loop().create_task(self.ws.close())

    def on_leader(self, address: str | None) -> None:
        """From the ZooKeeper detector: the leading master changed."""
        log.info("leading master is now %s", address)
        self.reconnect()

    async def check_silence(self, now: float) -> None:
        """No word from the master for ``master_timeout`` (loop time ``now``): reconnect."""
        if self.ws is not None and now - self.last_heard > self.master_timeout:
            log.warning("no word from the master for %.0fs; reconnecting", self.master_timeout)
            await self.ws.close()

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        """Connect to the leading master, register, serve; again whenever the link breaks."""
        await self.link.run(self.serve, self.down)

    async def serve(self, master: str) -> None:
        """One connection to the master at ``master``: register, then handle what comes down."""
        url = self.client.url(master, "/master/agent")
        log.debug("connecting to the master at %s", master)
        loop = asyncio.get_running_loop()
        try:
            ws_context = self.leader.client().ws_connect(
                url, max_msg_size=0, autoping=True, headers=self.client.headers(), ssl=self.ssl
            )
            async with ws_context as ws:
                log.debug("connected to the master at %s; registering", master)
                self.ws = ws
                self.link.up()
                self.last_heard = loop.time()
                writer = loop.create_task(self.writer(ws))
                try:
                    await ws.send_bytes(encode([self.register()]))
                    async for frame in ws:
                        if frame.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                            break
                        self.last_heard = loop.time()
                        self.receive(frame.data)
                finally:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await writer
                    self.ws = None
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                log.error(
                    "master %s refused this agent (HTTP %s): %s; give the agent a valid "
                    "--credential",
                    master,
                    exc.status,
                    "authentication failed" if exc.status == 401 else "not authorized",
                )
            else:
                log.debug("master %s refused the connection: %s", master, exc.status)
            raise refused_handshake(exc) from exc

    def receive(self, data: str | bytes) -> None:
        try:
            messages = msg.master_to_agent_decoder.decode(data)
        except Exception as exc:  # e.g. a newer master's message type
            log.warning("ignoring a message from the master: %s", exc)
            return
        for m in messages:
            try:
                self.deliver(m)
            except Exception:
                log.exception("handling %s failed", type(m).__name__)

    async def down(self, master: str, error: BaseException | None) -> None:
        """The connection to ``master`` broke (or was never made)."""
        if error is not None:
            log.debug("master connection failed: %s", error)
        if self.lost():
            log.warning("lost the master at %s; reconnecting", master)

    async def writer(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await self.out_wake.wait()
            self.out_wake.clear()
            if not self.out:
                continue
            batch, self.out = self.out, []
            self.flush()
            await ws.send_bytes(encode(batch))
