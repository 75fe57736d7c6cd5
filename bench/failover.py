#!/usr/bin/env python3
"""Master failover under load: how long the cluster is without a leader, and what it costs.

Starts a real 3-node ZooKeeper ensemble (``corral.testing.zookeeper.ZkEnsemble``), three
masters in HA and ``--agents`` agents following the leader through ZooKeeper
(``corral.testing.LocalCluster``), and one framework on the public SDK
(``corral.scheduler_client.SchedulerDriver``, given the zk:// URL; PARTITION_AWARE,
failover_timeout 300, explicit acknowledgements). The framework keeps a steady load:
``--long-per-agent`` ``sleep 600`` tasks on every agent that must survive every failover,
and ``--short-inflight`` ``sleep 0.2`` tasks in flight at all times. It acknowledges every
update itself and records each (task_id, uuid) it receives and acknowledges.

Then it SIGKILLs the leading master ``--kills`` times. After each kill it waits for full
recovery (new leader serving, all agents re-registered, framework re-subscribed and offered
resources), restarts the killed master as a standby, waits until short tasks launched through
the new leader finish, and kills again. For each kill it prints, measured from the SIGKILL:

* zk expiry   the old leader's ephemeral ``json.info_`` node deleted (watched by this
              process through its own ZooKeeper session: the session expiry)
* elected     the new leader's ``elected_time`` (when it learned it leads)
* leader      ``LocalCluster.leader_index()`` first names another master (polled, 20 ms)
* serving     the new leader first answers 200 on /master/state (polled, 20 ms)
* agents      every agent present and active in the new leader's /master/state (polled)
* resub       the framework's SUBSCRIBED from the new leader (seen by the framework)
* offer       the framework's first OFFERS from the new leader

Like a well-behaved framework, it reconciles after each failover (once every agent is back)
the tasks launched before the kill that have not ended. It also reports how many updates the
agents made while there was no leader and how late they reached the framework.

After all kills it stops launching, waits for every task to end, reconciles, and reports
tasks lost (long tasks not RUNNING; any task ending LOST/UNREACHABLE/GONE/FAILED/...),
duplicate deliveries of a (task_id, uuid) (total, and after the framework's ACKNOWLEDGE for
it had already been accepted), missing updates (short tasks without exactly one
TASK_FINISHED), launches lost with a killed master (ACCEPT failed, or accepted but the task
never reached an agent), and "false TASK_GONE": reconciliation answers of GONE for a task
whose reliable update then arrived. At-least-once delivery makes a duplicate legitimate when
the ACKNOWLEDGE was lost with the killed master; a duplicate after an accepted ACKNOWLEDGE can
still be legitimate if the master died before passing it on to the agent.

Agents get ``--status-update-retry`` ``--update-retry`` (1 s; corral's and Mesos's default is
10 s), so updates the master could not forward are resent soon enough for a short run.
The exit status is 0 when every kill recovered, no task was lost or missing and nothing
was left running. Timings are printed, never asserted.

Everything it starts (ensemble, masters, agents, launchers, tasks) is stopped on exit,
including on Ctrl-C or an exception.

    python bench/failover.py                    # 3 agents, 3 kills, 2 s session timeout
    python bench/failover.py --kills 5 --json
    python bench/failover.py --session-timeout 10   # Mesos's default
    python bench/failover.py --keep             # keep logs and sandboxes (path printed)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import http.client
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil
from kazoo.client import KazooClient

from corral.resources import from_wire, scalars
from corral.scheduler_client import Scheduler, SchedulerDriver, command_task
from corral.testing.cluster import LocalCluster, wait_until
from corral.testing.zookeeper import ZkEnsemble
from corral.wire.common import Capability, FrameworkInfo
from corral.wire.scheduler import Offer
from corral.wire.tasks import TaskInfo, TaskStatus, is_terminal

mono = time.monotonic

PHASES = ("zk_expiry", "elected", "leader", "serving", "agents", "resubscribed", "first_offer")
BAD_END = {
    "TASK_LOST",
    "TASK_UNREACHABLE",
    "TASK_GONE",
    "TASK_FAILED",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
    "TASK_KILLED",
}


# ====================================================================== the framework
@dataclass
class TaskRec:
    task_id: str
    kind: str  # "long" | "short"
    agent_id: str
    accept_t: float
    accept_ok: bool | None = None  # the ACCEPT call's outcome (None: not answered yet)
    accept_error: str | None = None
    master: str | None = None  # where the ACCEPT went
    state: str = "TASK_STAGING"  # latest non-reconciliation state delivered
    terminal_t: float | None = None
    reconciled: str | None = None  # latest answer to an explicit reconciliation
    answers: list[tuple[float, str]] = field(default_factory=list)  # every such answer


@dataclass
class Delivery:
    t: float
    wall: float
    task_id: str
    state: str
    uuid: bytes | None
    reason: str | None
    source: str | None
    master: str | None
    status_ts: float | None  # when the agent (or master) made the update


@dataclass
class LoadFramework(Scheduler):
    """Keeps long tasks running and ``short_inflight`` short tasks in flight; records all."""

    agents: int
    long_per_agent: int
    short_inflight: int
    short_cmd: str = "sleep 0.2"
    long_cmd: str = "sleep 600"
    prefix: str = field(default_factory=lambda: f"fo-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    lock: threading.Lock = field(default_factory=threading.Lock)
    tasks: dict[str, TaskRec] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    acked: dict[tuple[str, bytes], float] = field(default_factory=dict)  # ACK call -> 2xx at t
    ack_failures: list[tuple[float, str, str]] = field(default_factory=list)
    subscriptions: list[tuple[float, str | None, str]] = field(default_factory=list)
    offer_events: list[tuple[float, str | None, int]] = field(default_factory=list)
    disconnects: list[tuple[float, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    call_failures: list[tuple[float, str, str]] = field(default_factory=list)
    long_placed: dict[str, int] = field(default_factory=dict)
    launching: bool = True
    seq: int = 0
    unknown_updates: int = 0

    def __post_init__(self) -> None:
        self.need = scalars(cpus=0.01, mem=1)
        self._bg: set[asyncio.Task[Any]] = set()

    def framework_info(self) -> FrameworkInfo:
        return FrameworkInfo(
            user=getpass.getuser(),
            name="bench-failover",
            failover_timeout=300.0,
            capabilities=[Capability(type="PARTITION_AWARE")],
        )

    # ------------------------------------------------------------------ bookkeeping
    def short_in_flight(self) -> int:
        return sum(
            1
            for r in self.tasks.values()
            if r.kind == "short" and r.terminal_t is None and r.accept_ok is not False
        )

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # ------------------------------------------------------------------ events
    def subscribed(self, driver: SchedulerDriver, framework_id: str) -> None:
        with self.lock:
            self.subscriptions.append((mono(), driver.master, framework_id))

    def disconnected(self, driver: SchedulerDriver) -> None:
        with self.lock:
            self.disconnects.append((mono(), driver.master))

    def error(self, driver: SchedulerDriver, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        t = mono()
        with self.lock:
            self.offer_events.append((t, driver.master, len(offers)))
            if not self.launching:
                for o in offers:
                    self.spawn(self._call(driver, "decline", driver.decline([o.id.value], 3600.0)))
                return
            deficit = max(0, self.short_inflight - self.short_in_flight())
            for i, offer in enumerate(offers):
                aid = offer.agent_id.value
                avail = from_wire(offer.resources)
                tasks: list[TaskInfo] = []
                recs: list[TaskRec] = []
                while self.long_placed.get(aid, 0) < self.long_per_agent and avail.contains(
                    self.need
                ):
                    self.long_placed[aid] = self.long_placed.get(aid, 0) + 1
                    tasks.append(self._task("long", aid, self.long_cmd, t, recs, driver))
                    avail = avail - self.need
                quota = math.ceil(deficit / (len(offers) - i))
                while quota > 0 and avail.contains(self.need):
                    tasks.append(self._task("short", aid, self.short_cmd, t, recs, driver))
                    avail = avail - self.need
                    quota -= 1
                    deficit -= 1
                if tasks:
                    self.spawn(self._accept(driver, offer.id.value, tasks, recs))
                else:
                    # Resources freed by finishing tasks make an offer this filter does not
                    # contain, so they come back at once.
                    self.spawn(self._call(driver, "decline", driver.decline([offer.id.value], 0.5)))

    def _task(
        self,
        kind: str,
        agent_id: str,
        cmd: str,
        t: float,
        recs: list[TaskRec],
        driver: SchedulerDriver,
    ) -> TaskInfo:
        tid = f"{self.prefix}-{kind}-{self.seq}"
        self.seq += 1
        rec = TaskRec(tid, kind, agent_id, t, master=driver.master)
        self.tasks[tid] = rec
        recs.append(rec)
        return command_task(tid, tid, agent_id, cmd, self.need)

    async def _accept(
        self, driver: SchedulerDriver, offer_id: str, tasks: list[TaskInfo], recs: list[TaskRec]
    ) -> None:
        try:
            await driver.launch([offer_id], tasks, refuse_seconds=0.5)
            ok, err = True, None
        except Exception as exc:  # the master died under the call, or refused it
            ok, err = False, f"{type(exc).__name__}: {exc}"
        with self.lock:
            for r in recs:
                r.accept_ok, r.accept_error = ok, err
                if not ok and r.kind == "long":
                    self.long_placed[r.agent_id] -= 1  # place another one later
            if not ok:
                self.call_failures.append((mono(), "accept", err or ""))

    async def _call(self, driver: SchedulerDriver, what: str, coro: Any) -> None:
        try:
            await coro
        except Exception as exc:
            with self.lock:
                self.call_failures.append((mono(), what, f"{type(exc).__name__}: {exc}"))

    def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        t, wall = mono(), time.time()
        tid = status.task_id.value
        with self.lock:
            self.deliveries.append(
                Delivery(
                    t,
                    wall,
                    tid,
                    status.state,
                    status.uuid,
                    status.reason,
                    status.source,
                    driver.master,
                    status.timestamp,
                )
            )
            rec = self.tasks.get(tid)
            if rec is None:
                self.unknown_updates += 1
            elif status.reason == "REASON_RECONCILIATION" and status.uuid is None:
                rec.reconciled = status.state
                rec.answers.append((t, status.state))
            else:
                if rec.terminal_t is None:
                    rec.state = status.state
                    if is_terminal(status.state) or status.state == "TASK_UNREACHABLE":
                        rec.terminal_t = t
        if status.uuid is not None and status.agent_id is not None:
            self.spawn(self._ack(driver, status))

    async def _ack(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        assert status.uuid is not None
        key = (status.task_id.value, status.uuid)
        try:
            await driver.acknowledge(status)
        except Exception as exc:
            with self.lock:
                self.ack_failures.append((mono(), key[0], f"{type(exc).__name__}: {exc}"))
            return
        with self.lock:
            self.acked.setdefault(key, mono())

    # ------------------------------------------------------------------ queries (any thread)
    def first_after(
        self, events: list[tuple[Any, ...]], t0: float, not_master: str | None
    ) -> float | None:
        with self.lock:
            for ev in events:
                if ev[0] > t0 and ev[1] is not None and ev[1] != not_master:
                    return float(ev[0])
        return None


class FrameworkThread:
    """The framework's asyncio loop in a thread of its own, so that this (main) thread can
    block on polls, kills and restarts without stalling the framework."""

    def __init__(self, master: str, fw: LoadFramework) -> None:
        self.master = master
        self.fw = fw
        self.loop = asyncio.new_event_loop()
        self.driver: SchedulerDriver | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.exc: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="framework", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the framework did not subscribe")
        if self.exc is not None:
            raise RuntimeError(f"the framework failed: {self.exc!r}")

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self._run())
        except BaseException as exc:
            self.exc = exc
            self._ready.set()
        finally:
            with contextlib.suppress(Exception):
                self.loop.close()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        self.driver = SchedulerDriver(
            self.master, self.fw.framework_info(), self.fw, implicit_acknowledgements=False
        )
        runner = asyncio.get_running_loop().create_task(self.driver.run())
        try:
            await asyncio.wait_for(self.driver.connected.wait(), 30)
            self._ready.set()
            await self._stop.wait()
        finally:
            # TEARDOWN: the master kills the long tasks (the cluster's stop would, too).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.driver.stop(), 10)
            try:
                await asyncio.wait_for(runner, 10)
            except (TimeoutError, Exception):
                runner.cancel()

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the framework's loop from this thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_soon(self, fn: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        if self.thread.is_alive() and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(25)


# ====================================================================== ZooKeeper watch
class GroupWatcher:
    """Records every change of the masters' group (its ``json.info_`` children) with the
    time it was seen, through a ZooKeeper session of this process."""

    def __init__(self, hosts: str, path: str) -> None:
        self.client = KazooClient(hosts=hosts, timeout=10.0)
        self.path = path
        self.lock = threading.Lock()
        self.history: list[tuple[float, frozenset[str]]] = []

    def start(self) -> GroupWatcher:
        self.client.start(timeout=30)
        self.client.ensure_path(self.path)
        self.client.ChildrenWatch(self.path, self._children)
        return self

    def _children(self, children: list[str]) -> None:
        with self.lock:
            self.history.append(
                (mono(), frozenset(c for c in children if c.startswith("json.info_")))
            )

    def leader_node(self) -> str | None:
        with self.lock:
            nodes = self.history[-1][1] if self.history else frozenset()
        return min(nodes) if nodes else None

    def gone_at(self, node: str, t0: float) -> float | None:
        with self.lock:
            for t, nodes in self.history:
                if t > t0 and node not in nodes:
                    return t
        return None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop()
            self.client.close()


# ====================================================================== helpers
def get_json(port: int, path: str, timeout: float = 2.0) -> tuple[int, Any]:
    """GET without following redirects (a new leader redirects to itself while it loads)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, (json.loads(body) if resp.status == 200 else None)
    finally:
        conn.close()


def stats(values: list[float | None]) -> dict[str, float | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return {"p50": None, "max": None, "min": None}
    return {"p50": statistics.median(xs), "max": max(xs), "min": min(xs)}


def f3(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:5.2f}"


def descendants(pids: list[int]) -> list[psutil.Process]:
    """The launchers themselves and every process under them (the tasks)."""
    out = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            out += [p, *p.children(recursive=True)]
    return out


def alive(procs: list[psutil.Process]) -> list[int]:
    """Those still running (``is_running`` checks the creation time: pids get reused)."""
    out = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
    return out


# ====================================================================== one kill
def kill_and_recover(
    c: LocalCluster,
    ft: FrameworkThread,
    watcher: GroupWatcher,
    agent_ids: set[str],
    args: argparse.Namespace,
    k: int,
) -> dict[str, Any]:
    fw = ft.fw
    old = c.leader_index()
    assert old is not None
    old_addr = f"{c.ip}:{c.ports[old]}"
    old_node = watcher.leader_node()
    t0, w0 = mono(), time.time()
    c.kill_master(old, signal.SIGKILL)
    t_killed = mono()
    res: dict[str, Any] = {
        "kill": k,
        "at": time.strftime("%H:%M:%S", time.localtime(w0)) + f".{int(w0 % 1 * 1000):03d}",
        "old_leader": old,
        "kill_wait_s": t_killed - t0,
    }
    times: dict[str, float | None] = dict.fromkeys(PHASES)
    new: int | None = None
    state: Any = None
    deadline = t0 + args.recovery_timeout
    while mono() < deadline:
        now_ = mono()
        if new is None:
            li = c.leader_index()
            if li is not None and li != old:
                new, times["leader"] = li, now_ - t0
        if new is not None:
            try:
                status, body = get_json(c.ports[new], "/master/state")
            except OSError:
                status, body = 0, None
            if status == 200:
                state = body
                if times["serving"] is None:
                    times["serving"] = now_ - t0
                    times["elected"] = body["elected_time"] - w0
                if times["agents"] is None:
                    active = {s["id"] for s in body["slaves"] if s["active"]}
                    if agent_ids <= active:
                        times["agents"] = now_ - t0
        if times["resubscribed"] is None:
            t = fw.first_after(fw.subscriptions, t0, old_addr)
            times["resubscribed"] = None if t is None else t - t0
        if times["first_offer"] is None:
            t = fw.first_after(fw.offer_events, t0, old_addr)
            times["first_offer"] = None if t is None else t - t0
        if all(times[p] is not None for p in ("serving", "agents", "resubscribed", "first_offer")):
            break
        time.sleep(0.02)
    if old_node is not None:
        t = watcher.gone_at(old_node, t0)
        times["zk_expiry"] = None if t is None else t - t0
    res["t"] = times
    res["recovered"] = all(times[p] is not None for p in PHASES if p != "zk_expiry")
    res["new_leader"] = new
    # Where the agents' (re-)registrations landed, by the new leader's clock.
    if state is not None:
        regs = [
            s.get("reregistered_time") or s["registered_time"]
            for s in state["slaves"]
            if s["id"] in agent_ids
        ]
        res["agents_registered_by_master_clock_s"] = (max(regs) - w0) if regs else None
        res["agent_reregistered_time_present"] = sum(
            1 for s in state["slaves"] if "reregistered_time" in s
        )
    with fw.lock:
        disc = [t for t, m in fw.disconnects if t > t0 and m == old_addr]
        res["framework_noticed_s"] = (disc[0] - t0) if disc else None
    if not res["recovered"]:
        return res

    # A framework that does it right reconciles after a failover: ask about every task
    # launched before the kill that has not ended (unknown ones come back TASK_GONE).
    with fw.lock:
        pending: list[tuple[str, str | None]] = [
            (r.task_id, r.agent_id)
            for r in fw.tasks.values()
            if r.terminal_t is None and r.accept_t < t0
        ]
    res["reconciled_after_failover"] = len(pending)
    if pending and ft.driver is not None:
        with contextlib.suppress(Exception):
            ft.run(ft.driver.reconcile(pending))

    # Back to three masters: the killed one rejoins as a standby.
    t1 = mono()
    c.start_master_index(old)
    res["restart_s"] = mono() - t1

    # Load resumed: short tasks launched through the new leader finish.
    t_rec = t0 + max(v for v in times.values() if v is not None)

    def resumed() -> bool:
        with fw.lock:
            done: int = sum(
                1
                for r in fw.tasks.values()
                if r.kind == "short" and r.accept_t > t_rec and r.state == "TASK_FINISHED"
            )
        return done >= int(args.short_inflight) and mono() - t_rec >= float(args.settle)

    try:
        wait_until(resumed, 30, interval=0.05, what="short tasks to finish after the failover")
        res["load_resumed"] = True
    except TimeoutError:
        res["load_resumed"] = False

    res["_t0"], res["_w0"] = t0, w0
    return res


def outage_updates(fw: LoadFramework, kills: list[dict[str, Any]]) -> None:
    """After the run: the updates agents made while each kill left no leader serving, and
    how long after they were made they reached the framework (first delivery)."""
    with fw.lock:
        first: dict[tuple[str, bytes], Delivery] = {}
        for d in fw.deliveries:
            if d.uuid is not None:
                first.setdefault((d.task_id, d.uuid), d)
    for r in kills:
        t0, w0 = r.pop("_t0", None), r.pop("_w0", None)
        serving = r["t"]["serving"]
        if t0 is None or w0 is None or serving is None:
            continue
        made = [
            d
            for d in first.values()
            if d.status_ts is not None and w0 <= d.status_ts <= w0 + serving
        ]
        delays = [d.wall - d.status_ts for d in made if d.status_ts is not None]
        r["updates_made_during_outage"] = len(made)
        r["outage_update_delay_s"] = stats(list(delays))
        after = [d.t for d in first.values() if d.t > t0 + serving]
        r["first_update_after_serving_s"] = (min(after) - t0) if after else None


# ====================================================================== the run
def final_accounting(ft: FrameworkThread, args: argparse.Namespace) -> dict[str, Any]:
    fw = ft.fw
    with fw.lock:
        fw.launching = False
    if ft.driver is not None:
        with contextlib.suppress(Exception):
            ft.run(ft.driver.suppress())

    def shorts_done() -> bool:
        with fw.lock:
            return all(
                r.terminal_t is not None or r.accept_ok is False
                for r in fw.tasks.values()
                if r.kind == "short"
            )

    t_drain = mono()
    with contextlib.suppress(TimeoutError):
        wait_until(shorts_done, args.drain_timeout, interval=0.05, what="short tasks to end")
    drain_s = mono() - t_drain

    # Reconcile every long task and every task without a terminal update.
    with fw.lock:
        ask: list[tuple[str, str | None]] = [
            (r.task_id, r.agent_id)
            for r in fw.tasks.values()
            if r.kind == "long" or r.terminal_t is None
        ]
        for r in fw.tasks.values():
            if r.kind == "long" or r.terminal_t is None:
                r.reconciled = None
    if ask and ft.driver is not None:
        with contextlib.suppress(Exception):
            ft.run(ft.driver.reconcile(ask))

    def answered() -> bool:
        with fw.lock:
            return all(fw.tasks[tid].reconciled is not None for tid, _ in ask)

    with contextlib.suppress(TimeoutError):
        wait_until(answered, 10, interval=0.05, what="reconciliation answers")

    with fw.lock:
        tasks = list(fw.tasks.values())
        deliveries = list(fw.deliveries)
        acked = dict(fw.acked)
        ack_failures = list(fw.ack_failures)
        call_failures = list(fw.call_failures)

    # Deliveries of reliable (agent-made, uuid-carrying) updates.
    reliable = [d for d in deliveries if d.uuid is not None]
    seen: Counter[tuple[str, bytes]] = Counter()
    dups = dups_after_ack = 0
    dup_examples: list[dict[str, Any]] = []
    for d in reliable:
        assert d.uuid is not None
        key = (d.task_id, d.uuid)
        seen[key] += 1
        if seen[key] > 1:
            dups += 1
            a = acked.get(key)
            after_ack = a is not None and a < d.t
            dups_after_ack += after_ack
            if len(dup_examples) < 5:
                dup_examples.append(
                    {"task": d.task_id, "state": d.state, "after_ack": after_ack, "t": d.t}
                )
    by_task: dict[str, list[Delivery]] = {}
    for d in reliable:
        by_task.setdefault(d.task_id, []).append(d)

    lost: list[dict[str, Any]] = []
    missing: list[str] = []
    finished_twice: list[str] = []
    not_launched: list[str] = []  # ACCEPT failed under the kill and the task never existed
    dropped_launches: list[str] = []  # ACCEPT answered 2xx, task never reached an agent
    shorts = [r for r in tasks if r.kind == "short"]
    longs = [r for r in tasks if r.kind == "long"]
    finished_once = 0
    for r in shorts:
        ds = by_task.get(r.task_id, [])
        finished_uuids = {d.uuid for d in ds if d.state == "TASK_FINISHED"}
        ends = {d.state for d in ds if is_terminal(d.state) or d.state == "TASK_UNREACHABLE"}
        master_ends = [
            d
            for d in deliveries
            if d.task_id == r.task_id and d.uuid is None and d.reason != "REASON_RECONCILIATION"
        ]
        if len(finished_uuids) == 1 and ends == {"TASK_FINISHED"} and not master_ends:
            finished_once += 1
            continue
        if len(finished_uuids) > 1:
            finished_twice.append(r.task_id)
        bad = (ends | {d.state for d in master_ends}) & BAD_END
        if bad:
            lost.append({"task": r.task_id, "kind": "short", "states": sorted(bad)})
        elif not ends:
            if r.accept_ok is False and r.reconciled in ("TASK_GONE", "TASK_UNKNOWN", None):
                not_launched.append(r.task_id)
            elif r.reconciled in ("TASK_GONE", "TASK_UNKNOWN", "TASK_LOST", "TASK_DROPPED"):
                dropped_launches.append(r.task_id)
            else:
                missing.append(r.task_id)
    for r in longs:
        if r.accept_ok is False and r.reconciled in ("TASK_GONE", "TASK_UNKNOWN", None):
            not_launched.append(r.task_id)
            continue
        ds = [
            d for d in deliveries if d.task_id == r.task_id and d.reason != "REASON_RECONCILIATION"
        ]
        ended = sorted(
            {d.state for d in ds if is_terminal(d.state) or d.state == "TASK_UNREACHABLE"}
        )
        if ended or r.reconciled != "TASK_RUNNING" or r.state != "TASK_RUNNING":
            lost.append(
                {
                    "task": r.task_id,
                    "kind": "long",
                    "states": ended,
                    "latest": r.state,
                    "reconciled": r.reconciled,
                }
            )
    # Reconciliation said the task was gone while its agent still held the task's
    # unacknowledged terminal update (which then arrived): a false TASK_GONE.
    gone_states = ("TASK_GONE", "TASK_UNKNOWN", "TASK_LOST", "TASK_DROPPED")
    false_gone = []
    for r in tasks:
        gone_at = [t for t, st in r.answers if st in gone_states]
        later = [d for d in by_task.get(r.task_id, []) if gone_at and d.t > gone_at[0]]
        if later:
            false_gone.append(
                {
                    "task": r.task_id,
                    "answer": next(st for _, st in r.answers if st in gone_states),
                    "then": [d.state for d in later],
                    "delay_s": round(later[-1].t - gone_at[0], 3),
                }
            )
    ack_ok = len(acked)
    return {
        "drain_s": drain_s,
        "short_tasks": len(shorts),
        "short_finished_once": finished_once,
        "long_tasks": len(longs),
        "long_running_at_end": sum(1 for r in longs if r.reconciled == "TASK_RUNNING"),
        "tasks_lost": len(lost),
        "lost": lost[:20],
        "missing": len(missing),
        "missing_examples": missing[:10],
        "finished_more_than_once": len(finished_twice),
        "not_launched_accept_failed": len(not_launched),
        "dropped_launches": len(dropped_launches),
        "dropped_examples": dropped_launches[:10],
        "reconciliations_after_failover": sum(1 for r in tasks if r.answers),
        "false_gone": len(false_gone),
        "false_gone_examples": false_gone[:5],
        "reliable_deliveries": len(reliable),
        "distinct_updates": len(seen),
        "duplicates": dups,
        "duplicates_after_ack": dups_after_ack,
        "duplicate_examples": dup_examples,
        "acks_accepted": ack_ok,
        "ack_failures": len(ack_failures),
        "ack_failure_examples": [e for _, _, e in ack_failures[:3]],
        "call_failures": len(call_failures),
        "call_failure_examples": [f"{w}: {e}" for _, w, e in call_failures[:3]],
        "updates_for_unknown_tasks": fw.unknown_updates,
        "framework_errors": list(fw.errors),
        "subscriptions": len(fw.subscriptions),
        "framework_ids": sorted({fid for _, _, fid in fw.subscriptions}),
    }


def run(args: argparse.Namespace, stack: contextlib.ExitStack, result: dict[str, Any]) -> None:
    t_start = mono()
    zk = ZkEnsemble(3, tick_ms=args.tick_ms)
    stack.callback(zk.stop)
    zk.start()
    result["zk_start_s"] = mono() - t_start
    path = f"/corral-bench-{uuid.uuid4().hex[:8]}"
    watcher = GroupWatcher(zk.hosts, path)
    stack.callback(watcher.stop)
    watcher.start()

    work_dir = tempfile.mkdtemp(prefix="corral-bench-failover-", dir=args.work_dir)
    if not args.keep:
        stack.callback(shutil.rmtree, work_dir, True)
    c = LocalCluster(
        args.agents,
        masters=3,
        zk=zk.url(path),
        zk_session_timeout=args.session_timeout,
        work_dir=work_dir,
        master_flags=[],
        agent_flags=["--status-update-retry", str(args.update_retry)],
    )
    stack.callback(c.stop)
    t1 = mono()
    c.start()
    result["cluster_start_s"] = mono() - t1
    result["logs"] = str(c.work_dir / "logs")
    agent_ids = {s["id"] for s in c.state()["slaves"]}

    fw = LoadFramework(
        agents=args.agents, long_per_agent=args.long_per_agent, short_inflight=args.short_inflight
    )
    assert c.zk is not None
    ft = FrameworkThread(c.zk, fw)
    stack.callback(ft.stop)
    ft.start()

    # Steady state: every long task RUNNING, short tasks finishing.
    def steady() -> bool:
        with fw.lock:
            longs = [r for r in fw.tasks.values() if r.kind == "long"]
            done = sum(1 for r in fw.tasks.values() if r.state == "TASK_FINISHED")
        return (
            len(longs) == args.agents * args.long_per_agent
            and all(r.state == "TASK_RUNNING" for r in longs)
            and done >= 2 * args.short_inflight
        )

    wait_until(steady, 30, interval=0.05, what="steady load (long tasks RUNNING)")
    time.sleep(args.settle)
    result["steady_after_s"] = mono() - t_start
    if not args.json:
        print(
            f"ZooKeeper up in {result['zk_start_s']:.1f}s, cluster in "
            f"{result['cluster_start_s']:.1f}s, steady load at {result['steady_after_s']:.1f}s"
            f"  (logs: {result['logs']})",
            flush=True,
        )
        print(
            "kill  old->new  zk_expiry elected  leader serving  agents   resub   offer  "
            "| fw noticed  restart",
            flush=True,
        )

    t_kills = mono()
    for k in range(1, args.kills + 1):
        with fw.lock:
            launched0 = len(fw.tasks)
        r = kill_and_recover(c, ft, watcher, agent_ids, args, k)
        with fw.lock:
            r["tasks_launched_since_previous"] = len(fw.tasks) - launched0
        result["kills"].append(r)
        if not args.json:
            t = r["t"]
            new = "?" if r["new_leader"] is None else r["new_leader"]
            print(
                f"{k:>4}  {r['old_leader']} -> {new}"
                f"     {f3(t['zk_expiry'])}   {f3(t['elected'])}   {f3(t['leader'])}   "
                f"{f3(t['serving'])}   {f3(t['agents'])}   {f3(t['resubscribed'])}   "
                f"{f3(t['first_offer'])}  |   {f3(r.get('framework_noticed_s'))}    "
                f"{f3(r.get('restart_s'))}"
                + ("" if r["recovered"] else "   NOT RECOVERED")
                + ("" if r.get("load_resumed", True) else "   load did not resume"),
                flush=True,
            )
        if not r["recovered"]:
            break
    result["kills_s"] = mono() - t_kills

    # Process accounting for the leftover check after cleanup.
    launchers = [p for p in (a.launcher_pid for a in c.agents) if p is not None]
    result["final"] = final_accounting(ft, args)
    outage_updates(fw, result["kills"])
    result["_procs"] = descendants(launchers)
    t_stop = mono()
    ft.stop()
    c.stop()
    watcher.stop()
    zk.stop()
    result["stop_s"] = mono() - t_stop


def print_summary(result: dict[str, Any]) -> None:
    kills = result["kills"]
    print("\nseconds from SIGKILL (p50 / max / min over kills):")
    for p in PHASES:
        s = result["summary"][p]
        print(f"  {p:<13} {f3(s['p50'])} / {f3(s['max'])} / {f3(s['min'])}")
    s = result["summary"]
    print(
        f"  election after expiry (elected - zk_expiry): {f3(s['election_after_expiry']['p50'])}"
        f" / {f3(s['election_after_expiry']['max'])}"
    )
    print(
        f"  serving after elected (registry load):       {f3(s['serving_after_elected']['p50'])}"
        f" / {f3(s['serving_after_elected']['max'])}"
    )
    outage = [
        f"{k.get('updates_made_during_outage', 0)} (p50 {f3(k['outage_update_delay_s']['p50'])}"
        f" max {f3(k['outage_update_delay_s']['max'])})"
        for k in kills
        if "outage_update_delay_s" in k
    ]
    print(
        "  updates made during each outage, and how late they reached the framework (s): "
        + ", ".join(outage)
    )
    goal = s["serving"]["max"]
    verdict = "met" if goal is not None and goal <= 3 else "NOT met"
    print(
        f"goal: new leader serving <= 3 s with a {result['config']['session_timeout']:g} s "
        f"session timeout: max {f3(goal)} s -> {verdict}"
    )
    F = result["final"]
    print(
        f"\ntasks: {F['short_tasks']} short ({F['short_finished_once']} finished exactly once), "
        f"{F['long_tasks']} long ({F['long_running_at_end']} RUNNING at the end); "
        f"drained in {F['drain_s']:.1f}s"
    )
    print(
        f"  tasks lost:               {F['tasks_lost']}" + (f"  {F['lost']}" if F["lost"] else "")
    )
    print(
        f"  missing updates:          {F['missing']}"
        + (f"  {F['missing_examples']}" if F["missing"] else "")
        + f"   (finished more than once: {F['finished_more_than_once']})"
    )
    print(
        f"  duplicate deliveries:     {F['duplicates']} of {F['reliable_deliveries']} "
        f"({F['duplicates_after_ack']} after their ACKNOWLEDGE was accepted)"
    )
    print(
        f"  launches lost in a kill:  {F['not_launched_accept_failed']} ACCEPT failed, "
        f"{F['dropped_launches']} ACCEPT accepted but the task never reached an agent (GONE)"
    )
    print(
        f"  false TASK_GONE:          {F['false_gone']} reconciliation answers said GONE for a "
        f"task whose update then arrived"
        + (f"  e.g. {F['false_gone_examples'][0]}" if F["false_gone"] else "")
    )
    print(
        f"  acks: {F['acks_accepted']} accepted, {F['ack_failures']} failed; other call failures: "
        f"{F['call_failures']}; framework ids: {len(F['framework_ids'])}, subscriptions: "
        f"{F['subscriptions']}, errors: {F['framework_errors'] or 'none'}"
    )
    if F["ack_failure_examples"]:
        print(f"  e.g. {F['ack_failure_examples'][0]}")
    left = result["leftover_processes"]
    print(
        f"\nkills took {result['kills_s']:.1f}s; stop {result['stop_s']:.1f}s; total "
        f"{result['total_s']:.1f}s; leftover processes: {left or 'none'}; "
        f"{len(kills)} kills"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", type=int, default=3, help="agents (default 3)")
    ap.add_argument("--kills", type=int, default=3, help="leader kills (default 3)")
    ap.add_argument(
        "--session-timeout",
        type=float,
        default=2.0,
        help="ZooKeeper session timeout of masters and agents, seconds (default 2.0)",
    )
    ap.add_argument(
        "--tick-ms",
        type=int,
        default=500,
        help="ZooKeeper tickTime (default 500; min session timeout is 2 ticks)",
    )
    ap.add_argument("--long-per-agent", type=int, default=2, help="sleep 600 tasks per agent")
    ap.add_argument(
        "--short-inflight", type=int, default=6, help="sleep 0.2 tasks kept in flight (default 6)"
    )
    ap.add_argument(
        "--update-retry",
        type=float,
        default=1.0,
        help="agents' --status-update-retry, seconds (corral's and Mesos's default is 10)",
    )
    ap.add_argument("--settle", type=float, default=1.0, help="min seconds of load between kills")
    ap.add_argument("--recovery-timeout", type=float, default=30.0)
    ap.add_argument(
        "--drain-timeout",
        type=float,
        default=15.0,
        help="seconds to wait, after the last kill, for every short task's terminal update",
    )
    ap.add_argument("--work-dir", default=None, help="parent of the cluster's work dir")
    ap.add_argument(
        "--keep", action="store_true", help="keep the cluster's work dir (logs, sandboxes)"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = ap.parse_args(argv)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    t_all = mono()
    result: dict[str, Any] = {
        "machine": {
            "date": time.strftime("%a %b %d %H:%M:%S %Z %Y"),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {
            "agents": args.agents,
            "kills": args.kills,
            "session_timeout": args.session_timeout,
            "tick_ms": args.tick_ms,
            "long_per_agent": args.long_per_agent,
            "short_inflight": args.short_inflight,
            "update_retry": args.update_retry,
        },
        "kills": [],
    }
    if not args.json:
        m, cfg = result["machine"], result["config"]
        print(
            f"corral failover bench  {m['date']}  nproc={m['nproc']}  python={m['python']}\n"
            f"config: {cfg}",
            flush=True,
        )
    stack = contextlib.ExitStack()
    interrupted = False
    try:
        run(args, stack, result)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted; stopping everything", file=sys.stderr)
    finally:
        # Cleanup must not be cut short by a second Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
    result["leftover_processes"] = alive(result.pop("_procs", []))
    result["total_s"] = mono() - t_all
    if interrupted or "final" not in result:
        return 130 if interrupted else 1
    kills = result["kills"]
    summary: dict[str, Any] = {p: stats([k["t"][p] for k in kills]) for p in PHASES}
    summary["election_after_expiry"] = stats(
        [
            k["t"]["elected"] - k["t"]["zk_expiry"]
            if k["t"]["elected"] is not None and k["t"]["zk_expiry"] is not None
            else None
            for k in kills
        ]
    )
    summary["serving_after_elected"] = stats(
        [
            k["t"]["serving"] - k["t"]["elected"]
            if k["t"]["serving"] is not None and k["t"]["elected"] is not None
            else None
            for k in kills
        ]
    )
    result["summary"] = summary
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        print()
    else:
        print_summary(result)
    F = result["final"]
    ok = (
        all(k["recovered"] for k in kills)
        and F["tasks_lost"] == 0
        and F["missing"] == 0
        and not result["leftover_processes"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
