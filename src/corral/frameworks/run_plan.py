"""``corral run``'s decisions, without a socket or a clock: offers and updates in, calls out.

``RunPlan`` holds what the run knows (its tasks, their last states, the offers it saw);
``on_offers``, ``on_update``, ``on_tick`` and ``on_stop`` change it and return the calls
to make (``LaunchTasks``, ``Decline``, ``Suppress``, ``Kill``) and what to tell the user
(``Waiting``). ``corral.frameworks.run`` is the thin shell that makes the calls.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from corral.resources import Resources, scalars
from corral.scheduler_client.matching import command_task
from corral.scheduler_client.placement import Assignment, TaskSpec, place
from corral.wire.scheduler import Offer
from corral.wire.tasks import (
    ContainerInfo,
    DockerInfo,
    HealthCheck,
    KillPolicy,
    TaskInfo,
    TaskStatus,
)
from corral.wire.tasks import is_terminal as terminal_state

_EXIT = re.compile(r"exited with status (\d+)")
EXPLAIN_AFTER = 3.0  # seconds a task may wait for an offer before the run says why
DECLINE_WHILE_PENDING = 2.0  # refuse_seconds for an offer that fits nothing yet
DECLINE_WHEN_DONE = 3600.0

# `corral run` exit codes besides the task's own (docs/run.md).
EXIT_LAUNCH_FAILED = 1  # the task did not run or ended without an exit status
EXIT_USAGE = 2
EXIT_UNREACHABLE = 69  # sysexits EX_UNAVAILABLE: the master could not be reached
EXIT_TIMEOUT = 124  # as timeout(1): --timeout ended the wait
EXIT_INTERRUPTED = 130  # Ctrl-C


@dataclass
class RunSpec:
    command: str
    count: int = 1
    cpus: float = 0.1
    mem: float = 32.0
    disk: float = 0.0
    name: str = "corral-run"
    shell: bool = True
    arguments: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    uris: list[str] = field(default_factory=list)
    role: str = "*"
    docker_image: str | None = None  # run the command in this docker image (DOCKER container)
    docker_network: str = "HOST"
    force_pull: bool = False
    kill_policy: KillPolicy | None = None
    health_check: HealthCheck | None = None
    user: str | None = None  # CommandInfo.user: the OS user the agent runs the command as

    def container(self) -> ContainerInfo | None:
        """The task's ContainerInfo when it runs in a docker image."""
        if not self.docker_image:
            return None
        docker = DockerInfo(
            image=self.docker_image,
            network=self.docker_network,
            force_pull_image=True if self.force_pull else None,
        )
        return ContainerInfo(type="DOCKER", docker=docker)

    def resources(self) -> Resources:
        return scalars(cpus=self.cpus, mem=self.mem, disk=self.disk)


@dataclass
class TaskResult:
    task_id: str
    state: str = "TASK_STAGING"
    agent_id: str | None = None
    message: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    launched: bool = False
    agent_address: str | None = None  # HOST:PORT of the agent's HTTP API (for its sandbox)


# ------------------------------------------------------------------ effects


@dataclass(frozen=True)
class LaunchTasks:
    offer_ids: list[str]  # the offers of one agent
    tasks: list[TaskInfo]


@dataclass(frozen=True)
class Decline:
    offer_id: str
    refuse_seconds: float


@dataclass(frozen=True)
class Suppress:
    pass


@dataclass(frozen=True)
class Kill:
    task_id: str
    agent_id: str | None


@dataclass(frozen=True)
class Waiting:
    """The pending tasks cannot be placed, and why (shown to the user)."""

    pending: int
    reason: str


Effect = LaunchTasks | Decline | Suppress | Kill | Waiting


# ------------------------------------------------------------------ state


@dataclass
class RunPlan:
    spec: RunSpec
    prefix: str
    started: float  # when the run began (for the "cannot place" explanation)
    results: dict[str, TaskResult] = field(default_factory=dict)
    pending: deque[str] = field(default_factory=deque)
    suppressed: bool = False
    stopping: bool = False  # Ctrl-C, --timeout or --detach: launch nothing more
    offers_seen: dict[str, Offer] = field(default_factory=dict)  # agent id -> its last offer
    waiting_since: float | None = None  # since when a pending task fits no offer
    explained: str | None = None  # the last reason shown

    @classmethod
    def new(cls, spec: RunSpec, prefix: str, now: float) -> RunPlan:
        ids = [prefix] if spec.count == 1 else [f"{prefix}-{i}" for i in range(spec.count)]
        return cls(
            spec=spec,
            prefix=prefix,
            started=now,
            results={t: TaskResult(t) for t in ids},
            pending=deque(ids),
            waiting_since=now,
        )

    # ------------------------------------------------------------- views
    @property
    def remaining(self) -> int:
        """Tasks not yet ended."""
        return sum(1 for r in self.results.values() if not terminal_state(r.state))

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def all_running(self) -> bool:
        """Every task has reached RUNNING (or ended): --detach may return."""
        return all(
            r.state in ("TASK_RUNNING", "TASK_KILLING") or terminal_state(r.state)
            for r in self.results.values()
        )

    def exit_code(self) -> int:
        """The run's exit code: the task's own (the largest, for a batch), or 1 when a task
        ended without an exit status (failed launch, killed, lost)."""
        codes = []
        for r in self.results.values():
            if r.exit_code is not None:
                codes.append(r.exit_code)
            elif r.state != "TASK_FINISHED":
                codes.append(EXIT_LAUNCH_FAILED)
            else:
                codes.append(0)
        return max(codes, default=0)

    def by_state(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results.values():
            out[r.state] = out.get(r.state, 0) + 1
        return out


# ------------------------------------------------------------------ transitions


def agent_address(offer: Offer) -> str | None:
    """HOST:PORT of the offering agent's HTTP API (Offer.url), if the master said."""
    address = (offer.url or {}).get("address") or {}
    host, port = address.get("ip") or address.get("hostname"), address.get("port")
    return f"{host}:{port}" if host and port else None


def task_info(plan: RunPlan, task_id: str, agent_id: str, placed: Assignment) -> TaskInfo:
    spec = plan.spec
    info = command_task(
        task_id,
        task_id,
        agent_id,
        spec.command,
        placed.resources,  # as offered: reserved for the role, or unreserved
        role=spec.role,
        shell=spec.shell,
        arguments=spec.arguments,
        env=spec.env,
        uris=spec.uris,
    )
    info.container = spec.container()
    info.kill_policy = spec.kill_policy
    info.health_check = spec.health_check
    if spec.user and info.command is not None:
        info.command.user = spec.user
    return info


def on_offers(plan: RunPlan, offers: list[Offer], now: float) -> list[Effect]:
    """Place the pending tasks on the offers (the toolkit's placement: in order, spread over
    the agents), launch them, decline the rest; suppress once nothing is pending."""
    effects: list[Effect] = []
    for offer in offers:
        plan.offers_seen[offer.agent_id.value] = offer
    placement = None
    if plan.pending and not plan.stopping:
        specs = [task_spec(plan.spec, tid) for tid in plan.pending]
        placement = place(specs, offers)
    by_offer: dict[tuple[str, ...], list[TaskInfo]] = {}
    url = {o.agent_id.value: agent_address(o) for o in offers}
    for a in placement.assignments if placement else []:
        tid = a.spec.name
        plan.pending.remove(tid)
        result = plan.results[tid]
        result.launched = True
        result.agent_id = a.agent_id
        result.agent_address = url.get(a.agent_id)
        by_offer.setdefault(a.offer_ids, []).append(task_info(plan, tid, a.agent_id, a))
    used = {o for ids in by_offer for o in ids}
    for a in placement.assignments if placement else []:
        plan.offers_seen.pop(a.agent_id, None)  # in use: no longer tells why a task waits
    for ids, tasks in by_offer.items():
        effects.append(LaunchTasks(list(ids), tasks))
    if by_offer:
        plan.waiting_since = now if plan.pending else None
        plan.explained = None
    keep_asking = bool(plan.pending) and not plan.stopping
    refuse = DECLINE_WHILE_PENDING if keep_asking else DECLINE_WHEN_DONE
    for offer in offers:
        if offer.id.value not in used:
            effects.append(Decline(offer.id.value, refuse))
    if (not plan.pending or plan.stopping) and not plan.suppressed:
        plan.suppressed = True
        effects.append(Suppress())
    return effects


def task_spec(spec: RunSpec, task_id: str) -> TaskSpec:
    """What one task needs, for the toolkit's placement (the tasks of a run are one group)."""
    return TaskSpec(name=task_id, resources=spec.resources(), group="run", role=spec.role)


def on_update(plan: RunPlan, status: TaskStatus) -> TaskResult | None:
    """Record a task's new state; the result changed, or None (not ours, or already ended)."""
    result = plan.results.get(status.task_id.value)
    if result is None or terminal_state(result.state):
        return None
    result.state = "TASK_LOST" if status.state == "TASK_UNREACHABLE" else status.state
    if status.agent_id is not None:
        result.agent_id = status.agent_id.value
    result.message = status.message
    result.reason = status.reason
    m = _EXIT.search(status.message or "")
    if m and terminal_state(result.state):
        result.exit_code = int(m.group(1))
    return result


def on_tick(plan: RunPlan, now: float) -> list[Effect]:
    """Explain, once the wait is long enough (and again when the reason changes), why the
    pending tasks cannot be placed."""
    if not plan.pending or plan.stopping or plan.waiting_since is None:
        return []
    if now - plan.waiting_since < EXPLAIN_AFTER:
        return []
    reason = why_unplaced(plan.spec, list(plan.offers_seen.values()))
    if reason == plan.explained:
        return []
    plan.explained = reason
    return [Waiting(len(plan.pending), reason)]


def on_stop(plan: RunPlan) -> list[Effect]:
    """Stop launching and kill every launched task that has not ended."""
    plan.stopping = True
    effects: list[Effect] = []
    for r in plan.results.values():
        if r.launched and not terminal_state(r.state):
            effects.append(Kill(r.task_id, r.agent_id))
    if not plan.suppressed:
        plan.suppressed = True
        effects.append(Suppress())
    return effects


# ------------------------------------------------------------------ why a task waits


def why_unplaced(spec: RunSpec, offers: list[Offer]) -> str:
    """Why a task of ``spec`` fits none of the latest offers, in a user's words (the
    toolkit's placement reasons)."""
    if not offers:
        return (
            f"no agent offers resources to role {spec.role!r} (no agents, or all busy); "
            f"the task needs {spec.resources()}"
        )
    placement = place([task_spec(spec, "why")], offers)
    if placement.unplaced:
        return placement.unplaced[0].reason
    return "waiting for offers that were in use"
