"""An async scheduler driver over the v1 scheduler API: the SDK every framework uses.

Subscribe, receive events, make calls, acknowledge updates, and re-subscribe with backoff
when the connection to the master breaks (keeping the framework id, so tasks survive).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Literal

import aiohttp

from corral.security.client import ClientSecurity
from corral.transport.link import Backoff, LeaderLink, LeaderSource, LinkPolicy, Refused
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.codec import decode, encode
from corral.wire.common import DurationInfo, Filters, FrameworkInfo
from corral.wire.recordio import Decoder
from corral.wire.tasks import ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo, TaskStatus

log = logging.getLogger("corral.scheduler_client")

MaybeAwaitable = Awaitable[None] | None


class Scheduler:
    """Override what you need. Methods may be plain or ``async``."""

    def subscribed(self, driver: SchedulerDriver, framework_id: str) -> MaybeAwaitable:
        return None

    def offers(self, driver: SchedulerDriver, offers: list[s.Offer]) -> MaybeAwaitable:
        return None

    def rescind(self, driver: SchedulerDriver, offer_id: str) -> MaybeAwaitable:
        return None

    def inverse_offers(
        self, driver: SchedulerDriver, inverse_offers: list[s.InverseOffer]
    ) -> MaybeAwaitable:
        """The master wants these agents back (drain or maintenance): move what runs there,
        then ACCEPT_INVERSE_OFFERS; unanswered, the master goes on after its notice."""
        return None

    def rescind_inverse_offer(
        self, driver: SchedulerDriver, inverse_offer_id: str
    ) -> MaybeAwaitable:
        return None

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> MaybeAwaitable:
        return None

    def message(
        self, driver: SchedulerDriver, agent_id: str, executor_id: str, data: bytes
    ) -> MaybeAwaitable:
        return None

    def failure(self, driver: SchedulerDriver, failure: s.Failure) -> MaybeAwaitable:
        return None

    def error(self, driver: SchedulerDriver, message: str) -> MaybeAwaitable:
        return None

    def disconnected(self, driver: SchedulerDriver) -> MaybeAwaitable:
        return None


class CallFailed(Refused):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text=text)


def link_policy(max_backoff: float) -> LinkPolicy:
    """How a framework re-subscribes: backoff from 0.1-0.2 s doubling to ``max_backoff``, with
    jitter; quickly while an election is under way (503, and the first 20 tries after
    ZooKeeper names a leader or a subscription ends); a 4xx ends the driver."""
    return LinkPolicy(backoff=Backoff(base=0.1, cap=max_backoff), give_up_on_client_error=True)


class Fenced(CallFailed):
    """This instance lost its election: it makes no more calls."""

    def __init__(self, why: str = "this framework instance is no longer the leader") -> None:
        super().__init__(409, why)


class CallbackFailed(Exception):
    """A scheduler callback raised, and the driver was told to stop on callback errors."""


CallbackErrors = Literal["log", "stop"]


class SchedulerDriver:
    def __init__(
        self,
        master: str,
        framework_info: FrameworkInfo,
        scheduler: Scheduler,
        *,
        implicit_acknowledgements: bool = True,
        max_backoff: float = 15.0,
        on_callback_error: CallbackErrors = "log",
        security: ClientSecurity | None = None,
    ) -> None:
        """``on_callback_error``: when a callback raises, ``"log"`` logs it with its
        traceback and goes on (the connection stays up); ``"stop"`` logs it, closes the
        connection (the framework fails over: its tasks keep running) and ``run`` raises
        ``CallbackFailed`` from it. ``security``: credentials and the CA of a TLS master
        (default: ``CORRAL_PRINCIPAL``/``CORRAL_SECRET``/``CORRAL_TLS_CA`` from the
        environment); its principal becomes ``framework_info.principal`` when that is unset."""
        self.security = security or ClientSecurity.from_env()
        if framework_info.principal is None and self.security.principal is not None:
            framework_info.principal = self.security.principal
        self.leader = LeaderSource(master)
        self.leader.subscribe(self._on_leader)
        self.zk_url = self.leader.zk_url
        self.link = LeaderLink(self.leader, link_policy(max_backoff))
        self.heartbeat_interval = 15.0
        self.framework_info = framework_info
        self.scheduler = scheduler
        self.implicit_acks = implicit_acknowledgements
        self.max_backoff = max_backoff
        self.framework_id: str | None = framework_info.id.value if framework_info.id else None
        self.stream_id: str | None = None
        self.connected = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        self._background: set[asyncio.Task[None]] = set()
        self._removed = False
        self.on_callback_error: CallbackErrors = on_callback_error
        self.fenced = False
        self._response: aiohttp.ClientResponse | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def master(self) -> str | None:
        """``host:port`` of the master this driver talks to (None: no leader known yet)."""
        return self.link.address

    async def run(self) -> None:
        """Subscribe and process events until ``stop`` (reconnecting with backoff)."""
        connector = aiohttp.TCPConnector(limit=64, ssl=self.security.ssl_context())
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        )
        try:
            await self.leader.start()
            await self.link.run(self._subscribe_once, self._on_down)
        except Refused as exc:  # a 4xx: the master refuses this framework
            self._log_failure(self.master, exc)
            await self._dispatch(self.scheduler.error(self, exc.text))
            raise
        finally:
            await self.leader.stop()
            for t in list(self._background):
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await t
            await self._session.close()

    def _log_failure(self, master: str | None, exc: BaseException) -> None:
        log.info(
            "framework %s: subscription to %s failed: %s",
            self.framework_id or self.framework_info.name,
            master,
            exc,
        )

    async def _on_down(self, master: str, error: BaseException | None) -> None:
        if error is not None:
            self._log_failure(master, error)
        self.connected.clear()
        self.stream_id = None
        await self._dispatch(self.scheduler.disconnected(self))

    def _on_leader(self, address: str | None) -> None:
        if address is None:
            return
        log.info(
            "framework %s: leading master is now %s",
            self.framework_id or self.framework_info.name,
            address,
        )
        if self._response is not None:
            self._response.close()  # re-subscribe with the new leader

    def fence(self) -> None:
        """This instance lost its election: refuse every call from now on, and close the
        event stream (no TEARDOWN: the framework and its tasks belong to the new leader)."""
        if self.fenced:
            return
        log.warning(
            "framework %s: fenced (lost the election); making no more calls",
            self.framework_id or self.framework_info.name,
        )
        self.fenced = True
        self._stopping = True
        self.link.stop()
        self.connected.clear()
        for t in list(self._background):
            t.cancel()
        if self._response is not None:
            self._response.close()

    async def stop(self, failover: bool = False) -> None:
        """Stop; unless ``failover``, tear the framework down (its tasks are killed)."""
        self._stopping = True
        self.link.stop()
        if not failover and self.framework_id and self.stream_id:
            with contextlib.suppress(Exception):
                await self.call(s.Call(type="TEARDOWN"))
        if self._response is not None:
            self._response.close()

    async def _subscribe_once(self, master: str) -> None:
        assert self._session is not None
        info = self.framework_info
        if self.framework_id:
            info.id = ID(self.framework_id)
        call = s.Call(
            type="SUBSCRIBE",
            framework_id=ID(self.framework_id) if self.framework_id else None,
            subscribe=s.Subscribe(framework_info=info),
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.security.headers())
        resp = await self._session.post(
            self.security.url(master, "/api/v1/scheduler"),
            data=encode(call),
            headers=headers,
            allow_redirects=False,
        )
        if resp.status == 307:  # a standby (the link follows it, unless following ZooKeeper)
            resp.release()
            raise Refused(307, resp.headers.get("Location"), "redirected to the leader")
        if resp.status != 200:
            text = await resp.text()
            resp.release()
            raise CallFailed(resp.status, text)
        self._response = resp
        self.link.up()
        self.stream_id = resp.headers.get("Mesos-Stream-Id")
        decoder = Decoder()
        try:
            while True:
                # Missing ~5 heartbeats means the master is gone even if TCP is not.
                chunk = await asyncio.wait_for(
                    resp.content.readany(), 5 * self.heartbeat_interval + 1
                )
                if not chunk:
                    break
                for record in decoder.feed(chunk):
                    await self._event(decode(record, s.Event))
                    if self._removed:
                        return
        finally:
            resp.close()
            self._response = None

    # ------------------------------------------------------------------ events
    async def _dispatch(self, result: MaybeAwaitable) -> None:
        # ``result`` is what the callback returned (its coroutine, if async); a plain callback
        # that raised is caught by ``_callback`` below.
        try:
            if inspect.isawaitable(result):
                await result
        except (Fenced, asyncio.CancelledError):
            raise
        except CallFailed as exc:
            if not self._stopping:
                self._callback_failed(exc)
            else:  # e.g. a DECLINE of offers that crossed our TEARDOWN: nothing is lost
                log.debug("framework %s: a call after stop failed: %s", self.framework_id, exc)
        except Exception as exc:
            self._callback_failed(exc)

    async def _callback(self, invoke: Callable[[], MaybeAwaitable]) -> None:
        try:
            result = invoke()
        except Exception as exc:
            self._callback_failed(exc)
            return
        await self._dispatch(result)

    def _callback_failed(self, exc: Exception) -> None:
        log.error(
            "framework %s: a scheduler callback raised",
            self.framework_id or self.framework_info.name,
            exc_info=exc,
        )
        if self.on_callback_error == "stop":
            self._stopping = True
            self.link.stop()
            raise CallbackFailed(f"a scheduler callback raised {exc!r}") from exc

    async def _event(self, ev: s.Event) -> None:
        sched = self.scheduler
        if ev.type == "SUBSCRIBED" and ev.subscribed:
            fid = self.framework_id = ev.subscribed.framework_id.value
            self.heartbeat_interval = ev.subscribed.heartbeat_interval_seconds or 15.0
            self.connected.set()
            await self._callback(partial(sched.subscribed, self, fid))
        elif ev.type == "OFFERS" and ev.offers:
            if ev.offers.offers:
                await self._callback(partial(sched.offers, self, ev.offers.offers))
            if ev.offers.inverse_offers:
                await self._callback(partial(sched.inverse_offers, self, ev.offers.inverse_offers))
        elif ev.type == "RESCIND_INVERSE_OFFER" and ev.rescind_inverse_offer:
            oid = ev.rescind_inverse_offer.inverse_offer_id.value
            await self._callback(partial(sched.rescind_inverse_offer, self, oid))
        elif ev.type == "RESCIND" and ev.rescind:
            await self._callback(partial(sched.rescind, self, ev.rescind.offer_id.value))
        elif ev.type == "UPDATE" and ev.update:
            status = ev.update.status
            await self._callback(partial(sched.update, self, status))
            if self.implicit_acks and status.uuid is not None and status.agent_id is not None:
                self.spawn(self.acknowledge(status))
        elif ev.type == "MESSAGE" and ev.message:
            m = ev.message
            await self._callback(
                partial(sched.message, self, m.agent_id.value, m.executor_id.value, m.data)
            )
        elif ev.type == "FAILURE" and ev.failure:
            await self._callback(partial(sched.failure, self, ev.failure))
        elif ev.type == "ERROR" and ev.error:
            # As Mesos advises: an ERROR ends this scheduler (removed, or failed over to
            # another instance, which re-subscribing would kick out in turn).
            self._removed = True
            self.link.stop()
            await self._callback(partial(sched.error, self, ev.error.message))

    def spawn(self, coro: Awaitable[object]) -> None:
        """Run a call in the background; failures are logged, not raised."""

        async def wrapper() -> None:
            try:
                await coro
            except (CallFailed, aiohttp.ClientError, OSError) as exc:
                if self._stopping:
                    log.debug("background call failed while stopping: %s", exc)
                else:
                    log.warning("background call failed: %s", exc)

        task = asyncio.get_running_loop().create_task(wrapper())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ calls
    async def call(self, call: s.Call) -> None:
        if self.fenced:
            raise Fenced()
        assert self._session is not None
        if self.framework_id is None or self.master is None:
            raise CallFailed(503, "not subscribed")
        call.framework_id = ID(self.framework_id)
        headers = {"Content-Type": "application/json", **self.security.headers()}
        if self.stream_id:
            headers["Mesos-Stream-Id"] = self.stream_id
        async with self._session.post(
            self.security.url(self.master, "/api/v1/scheduler"), data=encode(call), headers=headers
        ) as resp:
            if resp.status >= 300:
                raise CallFailed(resp.status, await resp.text())

    async def launch(
        self, offer_ids: list[str], tasks: list[TaskInfo], refuse_seconds: float | None = None
    ) -> None:
        op = s.Operation(type="LAUNCH", launch=s.Launch(task_infos=tasks))
        await self.accept(offer_ids, [op], refuse_seconds)

    async def launch_group(
        self,
        offer_ids: list[str],
        executor: ExecutorInfo,
        tasks: list[TaskInfo],
        refuse_seconds: float | None = None,
    ) -> None:
        op = s.Operation(
            type="LAUNCH_GROUP",
            launch_group=s.LaunchGroup(executor=executor, task_group=TaskGroupInfo(tasks=tasks)),
        )
        await self.accept(offer_ids, [op], refuse_seconds)

    async def accept(
        self,
        offer_ids: list[str],
        operations: list[s.Operation],
        refuse_seconds: float | None = None,
    ) -> None:
        filters = Filters(refuse_seconds=refuse_seconds) if refuse_seconds is not None else None
        await self.call(
            s.Call(
                type="ACCEPT",
                accept=s.Accept(
                    offer_ids=[ID(o) for o in offer_ids], operations=operations, filters=filters
                ),
            )
        )

    async def decline(self, offer_ids: list[str], refuse_seconds: float | None = None) -> None:
        filters = Filters(refuse_seconds=refuse_seconds) if refuse_seconds is not None else None
        await self.call(
            s.Call(
                type="DECLINE",
                decline=s.Decline(offer_ids=[ID(o) for o in offer_ids], filters=filters),
            )
        )

    async def revive(self, roles: list[str] | None = None) -> None:
        await self.call(s.Call(type="REVIVE", revive=s.Roles(roles=roles or [])))

    async def suppress(self, roles: list[str] | None = None) -> None:
        await self.call(s.Call(type="SUPPRESS", suppress=s.Roles(roles=roles or [])))

    async def kill(
        self, task_id: str, agent_id: str | None = None, grace_period: float | None = None
    ) -> None:
        """Kill a task; ``grace_period`` seconds between SIGTERM and SIGKILL (kill policy)."""
        policy = None
        if grace_period is not None:
            policy = KillPolicy(grace_period=DurationInfo(nanoseconds=int(grace_period * 1e9)))
        await self.call(
            s.Call(
                type="KILL",
                kill=s.Kill(
                    task_id=ID(task_id),
                    agent_id=ID(agent_id) if agent_id else None,
                    kill_policy=policy,
                ),
            )
        )

    async def acknowledge(self, status: TaskStatus) -> None:
        assert status.agent_id is not None and status.uuid is not None
        await self.call(
            s.Call(
                type="ACKNOWLEDGE",
                acknowledge=s.Acknowledge(
                    agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid
                ),
            )
        )

    async def reconcile(self, tasks: list[tuple[str, str | None]] | None = None) -> None:
        items = [
            s.ReconcileTask(task_id=ID(t), agent_id=ID(a) if a else None) for t, a in (tasks or [])
        ]
        await self.call(s.Call(type="RECONCILE", reconcile=s.Reconcile(tasks=items)))

    async def message(self, agent_id: str, executor_id: str, data: bytes) -> None:
        await self.call(
            s.Call(
                type="MESSAGE",
                message=s.SchedulerMessage(
                    agent_id=ID(agent_id), executor_id=ID(executor_id), data=data
                ),
            )
        )

    async def shutdown_executor(self, agent_id: str, executor_id: str) -> None:
        await self.call(
            s.Call(
                type="SHUTDOWN",
                shutdown=s.Shutdown(executor_id=ID(executor_id), agent_id=ID(agent_id)),
            )
        )


def new_task_id(prefix: str = "task") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


__all__ = [
    "CallFailed",
    "CallbackErrors",
    "CallbackFailed",
    "Fenced",
    "Scheduler",
    "SchedulerDriver",
    "new_task_id",
]
