"""The master's logic: frameworks, calls, offers, tasks. Agents are in ``agents.py``.

Every state change happens here, synchronously, on the event loop; the HTTP layer only
decodes, calls in and encodes. Outbound traffic is queued on streams and agent links, never
awaited, so a slow client cannot stall the master.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from corral import MESOS_COMPAT_VERSION
from corral.coordination.interfaces import Registry
from corral.master import agents as agent_ops
from corral.master import launches as launch_ops
from corral.master import offers as offer_ops
from corral.master import tasks as task_ops
from corral.master.allocator import Snapshot
from corral.master.errors import CallError
from corral.master.state import (
    MAX_COMPLETED_FRAMEWORKS,
    AgentRecord,
    ExecutorRecord,
    FrameworkRecord,
    OfferRecord,
    TaskRecord,
)
from corral.master.timings import TimerWindow
from corral.resources import Resources
from corral.transport.streaming import EventStream
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.codec import encode
from corral.wire.common import Address, MasterInfo
from corral.wire.tasks import TaskInfo, TaskStatus

log = logging.getLogger("corral.master")

HEARTBEAT_INTERVAL = 15.0


@dataclass
class MasterConfig:
    ip: str = "127.0.0.1"
    port: int = 5050
    hostname: str = "localhost"
    offer_timeout: float | None = None
    agent_ping_timeout: float = 15.0
    max_agent_ping_timeouts: int = 5
    allocation_delay: float = 0.001
    weights: dict[str, float] = field(default_factory=dict)
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    work_dir: str = ""
    zk: str | None = None  # zk://h1:2181,h2:2181/corral for HA; None: one embedded master
    zk_session_timeout: float = 10.0
    quorum: int | None = None
    agent_reregister_timeout: float = 600.0


def make_master_info(c: MasterConfig, master_id: str) -> MasterInfo:
    return MasterInfo(
        id=master_id,
        ip=ip_to_int(c.ip),
        port=c.port,
        pid=f"master@{c.ip}:{c.port}",
        hostname=c.hostname,
        version=MESOS_COMPAT_VERSION,
        address=Address(hostname=c.hostname, ip=c.ip, port=c.port),
        capabilities=[{"type": "AGENT_UPDATE"}],
    )


def ip_to_int(ip: str) -> int:
    """MasterInfo.ip: IPv4 in network byte order as a uint32."""
    try:
        a, b, c, d = (int(x) for x in ip.split("."))
    except ValueError:
        return 0
    return a + (b << 8) + (c << 16) + (d << 24)


class Master:
    def __init__(self, config: MasterConfig, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry
        self._registry_writer = ThreadPoolExecutor(1, thread_name_prefix="registry")
        self.recovered_agents: dict[str, dict[str, Any]] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self.closed = False
        self.paused = False
        self.id = str(uuid.uuid4())
        self.start_time = time.time()
        self.elected_time = self.start_time
        self.agents: dict[str, AgentRecord] = {}
        self.unreachable_agents: dict[str, float] = {}
        self.frameworks: dict[str, FrameworkRecord] = {}
        self.completed_frameworks: list[FrameworkRecord] = []
        self.removed_framework_ids: set[str] = set()
        self.offers: dict[str, OfferRecord] = {}
        self._next_framework = 0
        self._next_agent = 0
        self._next_offer = 0
        self._allocation_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self.metrics: dict[str, int] = {
            "master/valid_status_updates": 0,
            "master/invalid_status_updates": 0,
            "master/messages_launch_tasks": 0,
            "master/slave_registrations": 0,
            "master/slave_reregistrations": 0,
            "master/slave_removals": 0,
            "master/tasks_launched": 0,
        }
        self.terminal_counts: dict[str, int] = {}
        # One allocation pass (snapshot, allocator, offers sent), and offer -> ACCEPT.
        self.agents_version = 0  # bumped when agents join, leave, connect or disconnect
        self._cluster_total: tuple[int, Resources] = (-1, Resources())
        self.allocation_run_ms = TimerWindow()
        self.offer_accept_ms = TimerWindow()

    # ================================================================== registry
    def persist(self, fn: Callable[..., None], *args: Any) -> None:
        """Apply a registry write in order, off the event loop (ZooKeeper round trips)."""
        if self.registry is None or self.closed:
            return

        def write() -> None:
            try:
                fn(*args)
            except Exception as exc:
                log.error("registry write %s failed: %s", getattr(fn, "__name__", fn), exc)

        self._registry_writer.submit(write)

    async def recover(self) -> None:
        """On election: learn the agents admitted by earlier masters; they have
        ``agent_reregister_timeout`` to come back before they are marked unreachable."""
        if self.registry is None:
            return
        snap = await asyncio.get_running_loop().run_in_executor(
            self._registry_writer, self.registry.load
        )
        self.unreachable_agents.update(snap.unreachable)
        self.recovered_agents = {k: v for k, v in snap.agents.items() if k not in self.agents}
        if self.recovered_agents:
            log.info(
                "recovered %d agents from the registry; waiting %.0fs for them to re-register",
                len(self.recovered_agents),
                self.config.agent_reregister_timeout,
            )
            self._timers.append(
                asyncio.get_running_loop().call_later(
                    self.config.agent_reregister_timeout, self._reregister_timeout
                )
            )

    def _reregister_timeout(self) -> None:
        if self.paused:
            self._timers.append(
                asyncio.get_running_loop().call_later(1.0, self._reregister_timeout)
            )
            return
        now = self._now()
        for aid in list(self.recovered_agents):
            log.warning("agent %s did not re-register in time; marking it unreachable", aid)
            del self.recovered_agents[aid]
            self.unreachable_agents[aid] = now
            assert self.registry is not None
            self.persist(self.registry.mark_unreachable, aid, now)

    def pause(self) -> None:
        """Stop acting (no offers, no answers) without forgetting anything."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        for agent in self.agents.values():
            agent.missed_pings = 0
            agent.pong_pending = False
        self.schedule_allocation()

    def shutdown(self) -> None:
        """Stop acting: this master is no longer the leader (or the process stops)."""
        self.closed = True
        for t in self._timers:
            t.cancel()
        if self._allocation_handle is not None:
            self._allocation_handle.cancel()
        for fw in self.frameworks.values():
            if fw.failover_timer is not None:
                fw.failover_timer.cancel()
            if fw.stream is not None:
                fw.stream.close()
        for offer in self.offers.values():
            if offer.expiry is not None:
                offer.expiry.cancel()
        self._registry_writer.shutdown(wait=False)

    # ================================================================== agents (agents.py)
    def agent_registered(
        self, reg: amsg.RegisterAgent, send: Callable[[amsg.MasterToAgent], None]
    ) -> AgentRecord:
        return agent_ops.agent_registered(self, reg, send)

    def agent_message(self, agent: AgentRecord, m: amsg.AgentToMaster) -> None:
        agent_ops.agent_message(self, agent, m)

    def agent_disconnected(self, agent: AgentRecord, send: object) -> None:
        agent_ops.agent_disconnected(self, agent, send)

    def ping_agents(self) -> None:
        agent_ops.ping_agents(self)

    def remove_agent(self, agent: AgentRecord, why: str) -> None:
        agent_ops.remove_agent(self, agent, why)

    # ================================================================== identity
    def master_info(self) -> MasterInfo:
        return make_master_info(self.config, self.id)

    def _now(self) -> float:
        return time.time()

    # ================================================================== subscription
    def subscribe(self, call: s.Call, stream: EventStream) -> FrameworkRecord:
        """Register or re-register a framework on a fresh event stream (already validated)."""
        assert call.subscribe is not None
        info = call.subscribe.framework_info
        fid = info.id.value if info.id and info.id.value else None
        if fid is not None and fid in self.removed_framework_ids:
            stream.send(
                encode(s.Event(type="ERROR", error=s.Error(message="Framework has been removed")))
            )
            stream.close()
            raise CallError(200, "Framework has been removed")
        now = self._now()
        fw = self.frameworks.get(fid) if fid else None
        if fid is None:
            fid = f"{self.id}-{self._next_framework:04d}"
            self._next_framework += 1
            info.id = ID(fid)
            fw = self.frameworks[fid] = FrameworkRecord(id=fid, info=info, registered_time=now)
            log.info("framework %s (%s) registered", fid, info.name)
        elif fw is None:
            fw = FrameworkRecord(id=fid, info=info, registered_time=now, recovered=True)
            fw.reregistered_time = now
            self.frameworks[fid] = fw
            log.info("framework %s (%s) re-registered (recovered)", fid, info.name)
        else:
            log.info("framework %s (%s) failed over", fid, info.name)
            if fw.stream is not None and not fw.stream.closed:
                fw.stream.send(
                    encode(s.Event(type="ERROR", error=s.Error(message="Framework failed over")))
                )
                fw.stream.close()
            if fw.failover_timer is not None:
                fw.failover_timer.cancel()
                fw.failover_timer = None
            # user, checkpoint and principal cannot change on re-subscription.
            info.user, info.checkpoint, info.principal = (
                fw.info.user,
                fw.info.checkpoint,
                fw.info.principal,
            )
            fw.info = info
            fw.reregistered_time = now
            for offer_id in list(fw.offers):
                self.rescind_offer(offer_id)
        fw.stream = stream
        fw.stream_id = str(uuid.uuid4())
        fw.connected = True
        fw.active = True
        fw.unregistered_time = None
        fw.suppressed_roles = set(call.subscribe.suppressed_roles)
        if call.framework_id is not None:
            # A re-subscription: updates its agents sent while it was away went nowhere, so
            # have them resent now rather than at their next retry.
            for agent in self.agents.values():
                if agent.send is not None:
                    agent.send(amsg.FrameworkSubscribed(framework_id=ID(fid)))
        stream.send(
            encode(
                s.Event(
                    type="SUBSCRIBED",
                    subscribed=s.Subscribed(
                        framework_id=ID(fid),
                        heartbeat_interval_seconds=self.config.heartbeat_interval,
                        master_info=self.master_info(),
                    ),
                )
            )
        )
        self.schedule_allocation()
        return fw

    def disconnected(self, fw: FrameworkRecord, stream: EventStream) -> None:
        """The event stream of ``fw`` closed: deactivate, and remove after failover_timeout."""
        if fw.stream is not stream or fw.id not in self.frameworks:
            return
        fw.stream = None
        fw.connected = False
        fw.active = False
        fw.unregistered_time = self._now()
        for offer_id in list(fw.offers):
            self.rescind_offer(offer_id, notify=False)
        timeout = max(0.0, fw.info.failover_timeout)
        log.info("framework %s disconnected; failover timeout %.1fs", fw.id, timeout)
        fw.failover_timer = asyncio.get_running_loop().call_later(
            timeout, self._failover_expired, fw.id
        )

    def _failover_expired(self, fid: str) -> None:
        if self.paused:  # not acting as leader now: decide when we know we still lead
            asyncio.get_running_loop().call_later(1.0, self._failover_expired, fid)
            return
        fw = self.frameworks.get(fid)
        if fw is not None and not fw.connected:
            log.info("framework %s failover timeout expired; removing it", fid)
            self.remove_framework(fw)

    def remove_framework(self, fw: FrameworkRecord) -> None:
        if fw.failover_timer is not None:
            fw.failover_timer.cancel()
            fw.failover_timer = None
        for offer_id in list(fw.offers):
            self.rescind_offer(offer_id, notify=False)
        agents_with_work = {t.agent_id for t in fw.tasks.values()} | {a for a, _ in fw.executors}
        for task in list(fw.tasks.values()):
            # The agent reports TASK_KILLED as the processes end; the master frees the
            # resources now, as Mesos does when it removes a framework.
            self._finish_task(task, "TASK_KILLED", reason="REASON_FRAMEWORK_REMOVED", notify=False)
        for ex in list(fw.executors.values()):
            self._remove_executor(ex)
        for aid in agents_with_work:
            agent = self.agents.get(aid)
            if agent is not None and agent.send is not None:
                agent.send(amsg.ShutdownFramework(framework_id=ID(fw.id)))
        if fw.stream is not None:
            fw.stream.close()
            fw.stream = None
        fw.connected = fw.active = False
        fw.unregistered_time = self._now()
        del self.frameworks[fw.id]
        self.removed_framework_ids.add(fw.id)
        self.completed_frameworks.append(fw)
        if len(self.completed_frameworks) > MAX_COMPLETED_FRAMEWORKS:
            del self.completed_frameworks[0]
        self.schedule_allocation()

    def send_event(self, fw: FrameworkRecord, event: s.Event) -> None:
        if fw.stream is not None:
            fw.stream.send(encode(event))

    # ================================================================== calls
    def framework_for_call(self, call: s.Call, stream_id: str | None) -> FrameworkRecord:
        assert call.framework_id is not None
        fw = self.frameworks.get(call.framework_id.value)
        if fw is None:
            raise CallError(400, "Framework cannot be found")
        if not fw.connected:
            raise CallError(403, "Framework is not subscribed")
        if stream_id is None:
            raise CallError(
                400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
            )
        if stream_id != fw.stream_id:
            raise CallError(
                400,
                f"The stream ID '{stream_id}' included in this request didn't match "
                f"the stream ID currently associated with framework ID {fw.id}",
            )
        return fw

    def handle_call(self, fw: FrameworkRecord, call: s.Call) -> None:
        """Apply a validated non-SUBSCRIBE call. Raises CallError, leaving state untouched."""
        t = call.type
        if t == "ACCEPT":
            assert call.accept is not None
            self.accept(fw, call.accept)
        elif t == "DECLINE":
            assert call.decline is not None
            self.decline(fw, call.decline.offer_ids, call.decline.filters)
        elif t == "REVIVE":
            roles = call.revive.roles if call.revive else []
            self._check_roles(fw, roles, "revive.roles")
            for role in roles or fw.roles:
                fw.suppressed_roles.discard(role)
            fw.filters.clear()
            self.schedule_allocation()
        elif t == "SUPPRESS":
            roles = call.suppress.roles if call.suppress else []
            self._check_roles(fw, roles, "suppress.roles")
            # As Mesos: only new offers stop; outstanding ones stay usable.
            fw.suppressed_roles.update(roles or fw.roles)
        elif t == "KILL":
            assert call.kill is not None
            self.kill(fw, call.kill)
        elif t == "SHUTDOWN":
            assert call.shutdown is not None
            agent = self.agents.get(call.shutdown.agent_id.value)
            if agent is None:
                raise CallError(400, f"Agent {call.shutdown.agent_id.value} is not registered")
            if agent.send is not None:
                agent.send(
                    amsg.ShutdownExecutor(
                        framework_id=ID(fw.id), executor_id=call.shutdown.executor_id
                    )
                )
        elif t == "ACKNOWLEDGE":
            assert call.acknowledge is not None
            self.acknowledge(fw, call.acknowledge)
        elif t == "RECONCILE":
            self.reconcile(fw, call.reconcile.tasks if call.reconcile else [])
        elif t == "MESSAGE":
            assert call.message is not None
            agent = self.agents.get(call.message.agent_id.value)
            if agent is None:
                raise CallError(400, f"Agent {call.message.agent_id.value} is not registered")
            if agent.send is not None:
                agent.send(
                    amsg.FrameworkToExecutor(
                        framework_id=ID(fw.id),
                        executor_id=call.message.executor_id,
                        data=call.message.data,
                    )
                )
        elif t == "TEARDOWN":
            self.remove_framework(fw)
        elif t in (
            "REQUEST",
            "ACCEPT_INVERSE_OFFERS",
            "DECLINE_INVERSE_OFFERS",
            "ACKNOWLEDGE_OPERATION_STATUS",
            "RECONCILE_OPERATIONS",
        ):
            pass  # accepted and ignored, as Mesos's built-in allocator does
        elif t == "UPDATE_FRAMEWORK":
            assert call.update_framework is not None
            info = call.update_framework.framework_info
            if info.id is None or info.id.value != fw.id:
                raise CallError(
                    400, "'update_framework.framework_info.id' must equal 'framework_id'"
                )
            info.user, info.checkpoint, info.principal = (
                fw.info.user,
                fw.info.checkpoint,
                fw.info.principal,
            )
            fw.info = info
            fw.suppressed_roles = set(call.update_framework.suppressed_roles)
            self.schedule_allocation()
        else:
            raise CallError(400, f"Unknown call type '{t}'")

    def _check_roles(self, fw: FrameworkRecord, roles: list[str], field_name: str) -> None:
        for role in roles:
            if role not in fw.roles:
                raise CallError(
                    400, f"'{field_name}' names role '{role}' the framework is not subscribed to"
                )

    # ================================================================== tasks (tasks.py)
    def _add_task(
        self,
        fw: FrameworkRecord,
        agent: AgentRecord,
        task: TaskInfo,
        role: str,
        res: Resources,
        executor_id: str | None = None,
        state: str = "TASK_STAGING",
    ) -> TaskRecord:
        return task_ops._add_task(
            self,
            fw=fw,
            agent=agent,
            task=task,
            role=role,
            res=res,
            executor_id=executor_id,
            state=state,
        )

    def _add_executor(self, ex: ExecutorRecord) -> None:
        task_ops._add_executor(self, ex=ex)

    def _remove_executor(self, ex: ExecutorRecord) -> None:
        task_ops._remove_executor(self, ex=ex)

    def _finish_task(
        self,
        task: TaskRecord,
        state: str,
        *,
        reason: str | None = None,
        message: str | None = None,
        notify: bool = True,
        status: TaskStatus | None = None,
    ) -> None:
        task_ops._finish_task(
            self,
            task=task,
            state=state,
            reason=reason,
            message=message,
            notify=notify,
            status=status,
        )

    def status_update(self, agent: AgentRecord, update: amsg.StatusUpdate) -> None:
        task_ops.status_update(self, agent=agent, update=update)

    def acknowledge(self, fw: FrameworkRecord, ack: s.Acknowledge) -> None:
        task_ops.acknowledge(self, fw=fw, ack=ack)

    def kill(self, fw: FrameworkRecord, kill: s.Kill) -> None:
        task_ops.kill(self, fw=fw, kill=kill)

    def reconcile(self, fw: FrameworkRecord, tasks: list[s.ReconcileTask]) -> None:
        task_ops.reconcile(self, fw=fw, tasks=tasks)

    # ================================================================== offers (offers.py)
    def _take_offers(
        self, fw: FrameworkRecord, offer_ids: list[ID], field_name: str, together: bool = True
    ) -> list[OfferRecord]:
        return offer_ops._take_offers(self, fw, offer_ids, field_name, together)

    def _consume_offer(self, offer: OfferRecord) -> None:
        offer_ops._consume_offer(self, offer)

    def rescind_offer(self, offer_id: str, notify: bool = True) -> None:
        offer_ops.rescind_offer(self, offer_id, notify)

    def _add_filter(
        self, fw: FrameworkRecord, agent_id: str, resources: Resources, filters: Any
    ) -> None:
        offer_ops._add_filter(self, fw, agent_id, resources, filters)

    def decline(self, fw: FrameworkRecord, offer_ids: list[ID], filters: Any) -> None:
        offer_ops.decline(self, fw, offer_ids, filters)

    def schedule_allocation(self) -> None:
        offer_ops.schedule_allocation(self)

    def snapshot(self) -> Snapshot:
        return offer_ops.snapshot(self)

    def _allocate(self) -> None:
        offer_ops._allocate(self)

    # ================================================================== accept (launches.py)
    def accept(self, fw: FrameworkRecord, accept: s.Accept) -> None:
        launch_ops.accept(self, fw, accept)
