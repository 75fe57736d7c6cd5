"""The update engine (pure): a job update in batches with health-based automatic rollback.

``handle(state, event, now) -> effects``. The state is plain msgspec data (the shell
persists it after every call, so an update survives a restart of the front end); no clock,
timer or socket here: the shell feeds what it observes (``Observed``, ``TaskFailed``), the
operator's commands (``Pause``, ``Resume``, ``Abort``) and a ``Tick`` now and then, and
carries out the effects (``SetInstance``, ``RemoveInstance``, ``Finished``).

Semantics (Aurora's, docs/aurora.md "Updates"):

* instances ``0 .. max(from, to) - 1`` are updated in batches of ``batch_size``, in order;
  a batch starts when the previous one is complete;
* an instance is updated when its new task has stayed healthy (running, if the job has no
  health check) for ``watch_secs``; a task of the new version that ends, or an instance
  not updated within ``instance_timeout_secs``, is one failure of that instance;
* an instance with more than ``max_per_instance_failures`` failures has failed; more than
  ``max_total_failures`` failed instances fail the update, which then rolls back (if
  ``rollback_on_failure``): the batches done so far are undone in reverse order, each in
  reverse (``(0,1,2)(3,4,5)(6,7,8)`` is undone as ``(8,7,6)(5,4,3)(2,1,0)``), instances
  never touched are skipped, and each is watched the same way;
* ``Pause`` holds the update (nothing new is started; a watch starts over on ``Resume``),
  ``Abort`` ends it where it is; after ``Recovered`` (a restart of the front end) watches
  and timeouts start over, so time spent down counts neither way.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from corral.frameworks.aurora.spec import UpdateConfig

Status = Literal[
    "rolling_forward",
    "roll_forward_paused",
    "rolling_back",
    "roll_back_paused",
    "rolled_forward",
    "rolled_back",
    "aborted",
    "failed",
]
ACTIVE = frozenset({"rolling_forward", "rolling_back"})
PAUSED = frozenset({"roll_forward_paused", "roll_back_paused"})
TERMINAL = frozenset({"rolled_forward", "rolled_back", "aborted", "failed"})
Phase = Literal["pending", "updating", "watching", "done", "failed"]
LOG_KEPT = 200


class Instance(msgspec.Struct):
    """One instance of the batch under way."""

    phase: Phase = "pending"
    since: float = 0.0  # when it was told to change (or its clock restarted)
    healthy_since: float | None = None
    task_id: str = ""  # the target version's task being watched
    failures: int = 0
    counted: list[str] = []  # task ids already counted as failures


class UpdateState(msgspec.Struct, kw_only=True):
    key: str
    from_version: str
    to_version: str
    from_instances: int
    to_instances: int
    config: UpdateConfig
    batches: list[list[int]]
    status: Status = "rolling_forward"
    batch: int = 0  # index into the current plan (batches, or rollback)
    rollback: list[list[int]] = []
    instances: dict[int, Instance] = {}  # the current batch's
    touched: list[int] = []  # instances changed while rolling forward
    failed: list[int] = []  # instances that failed (in the current direction)
    started: float = 0.0
    updated: float = 0.0
    message: str = ""
    ended: bool = False  # Finished was emitted
    log: list[tuple[float, str]] = []

    @property
    def plan(self) -> list[list[int]]:
        return self.rollback if self.rolling_back else self.batches

    @property
    def rolling_back(self) -> bool:
        return self.status in ("rolling_back", "roll_back_paused") or self.status == "rolled_back"

    def target(self, instance: int) -> str | None:
        """The version ``instance`` goes to in the current direction (None: removed)."""
        if self.rolling_back:
            return self.from_version if instance < self.from_instances else None
        return self.to_version if instance < self.to_instances else None


# ====================================================================== events
class Tick(msgspec.Struct, frozen=True, tag=True):
    pass


class Observed(msgspec.Struct, frozen=True, tag=True):
    """What an instance runs now: its version ("" if it has no app), its task of that
    version ("" if none is running) and whether that task is healthy."""

    instance: int
    version: str
    task_id: str = ""
    healthy: bool = False


class TaskFailed(msgspec.Struct, frozen=True, tag=True):
    """A task of ``instance`` at ``version`` ended (failed, killed, lost)."""

    instance: int
    version: str
    task_id: str
    reason: str = ""


class Pause(msgspec.Struct, frozen=True, tag=True):
    pass


class Resume(msgspec.Struct, frozen=True, tag=True):
    pass


class Abort(msgspec.Struct, frozen=True, tag=True):
    pass


class Recovered(msgspec.Struct, frozen=True, tag=True):
    """The front end restarted: time it was down counts neither as watched nor as waiting."""


Event = Tick | Observed | TaskFailed | Pause | Resume | Abort | Recovered


# ====================================================================== effects
class SetInstance(msgspec.Struct, frozen=True):
    """Make ``instance`` run ``version`` (create its app, or replace its definition)."""

    instance: int
    version: str


class RemoveInstance(msgspec.Struct, frozen=True):
    instance: int


class Finished(msgspec.Struct, frozen=True):
    """The update ended: the job's spec is now ``version``."""

    status: Status
    version: str


Effect = SetInstance | RemoveInstance | Finished


class CommandRefused(ValueError):
    """Pause/resume/abort in a state that does not allow it (the message says why)."""


# ====================================================================== entry points
def new_update(
    key: str,
    *,
    from_version: str,
    to_version: str,
    from_instances: int,
    to_instances: int,
    config: UpdateConfig,
    now: float,
) -> UpdateState:
    """A new update; feed it a ``Tick`` to start the first batch."""
    n = max(from_instances, to_instances)
    size = config.batch_size
    batches = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
    state = UpdateState(
        key=key,
        from_version=from_version,
        to_version=to_version,
        from_instances=from_instances,
        to_instances=to_instances,
        config=config,
        batches=batches,
        started=now,
        updated=now,
    )
    _note(state, now, f"update {from_version} -> {to_version}: {len(batches)} batch(es) of {size}")
    return state


def handle(state: UpdateState, event: Event, now: float) -> list[Effect]:
    """Apply one event to ``state`` (in place) and return what the shell must do.
    Raises CommandRefused for a command the state does not allow (state unchanged)."""
    out: list[Effect] = []
    if isinstance(event, Pause | Resume | Abort):
        _command(state, event, now)
    elif isinstance(event, Recovered):
        if state.status not in TERMINAL:
            _restart_clocks(state, now)
            _note(state, now, "the front end restarted: watches start over")
    elif state.status in ACTIVE:
        if isinstance(event, Observed):
            _observed(state, event, now)
        elif isinstance(event, TaskFailed):
            _task_failed(state, event, now)
    if state.status in ACTIVE:
        _advance(state, now, out)
    if state.status in TERMINAL and not state.ended:
        version = state.from_version if state.status == "rolled_back" else state.to_version
        out.append(Finished(state.status, version))
        state.ended = True
    state.updated = now
    return out


def summary(state: UpdateState) -> dict[str, object]:
    """The state in words and numbers (for ``update info``)."""
    return {
        "job": state.key,
        "status": state.status,
        "from": state.from_version,
        "to": state.to_version,
        "batch": f"{min(state.batch + 1, len(state.plan))}/{len(state.plan)}",
        "current": sorted(state.instances),
        "phases": {str(i): inst.phase for i, inst in sorted(state.instances.items())},
        "failed": state.failed,
        "message": state.message,
    }


# ====================================================================== transitions
def _note(state: UpdateState, now: float, text: str) -> None:
    state.log.append((now, text))
    del state.log[:-LOG_KEPT]


def _command(state: UpdateState, event: Pause | Resume | Abort, now: float) -> None:
    if state.status in TERMINAL:
        raise CommandRefused(f"the update of {state.key} has ended ({state.status})")
    if isinstance(event, Abort):
        state.status = "aborted"
        state.message = "aborted by the operator"
        _note(state, now, "aborted")
    elif isinstance(event, Pause):
        if state.status in PAUSED:
            raise CommandRefused(f"the update of {state.key} is already paused")
        state.status = (
            "roll_back_paused" if state.status == "rolling_back" else "roll_forward_paused"
        )
        _note(state, now, "paused")
    else:
        if state.status not in PAUSED:
            raise CommandRefused(f"the update of {state.key} is not paused ({state.status})")
        state.status = "rolling_back" if state.status == "roll_back_paused" else "rolling_forward"
        _restart_clocks(state, now)  # a watch interrupted by a pause starts over
        _note(state, now, "resumed")


def _restart_clocks(state: UpdateState, now: float) -> None:
    for inst in state.instances.values():
        if inst.phase in ("updating", "watching"):
            inst.phase, inst.since, inst.healthy_since = "updating", now, None


def _observed(state: UpdateState, ev: Observed, now: float) -> None:
    inst = state.instances.get(ev.instance)
    target = state.target(ev.instance)
    if inst is None or inst.phase not in ("updating", "watching") or target is None:
        return
    if ev.version != target or not ev.task_id or ev.task_id in inst.counted:
        if inst.phase == "watching" and ev.version == target and not ev.task_id:
            _failure(state, ev.instance, inst, inst.task_id, "its task is gone", now)
        return
    replaced = inst.phase == "watching" and inst.task_id and ev.task_id != inst.task_id
    # the watched task was replaced between two looks: it ended
    if replaced and _failure(state, ev.instance, inst, inst.task_id, "its task was replaced", now):
        return
    if ev.healthy:
        if inst.phase != "watching":
            inst.phase, inst.healthy_since, inst.task_id = "watching", now, ev.task_id
    elif inst.phase == "watching":
        inst.phase, inst.healthy_since = "updating", None


def _task_failed(state: UpdateState, ev: TaskFailed, now: float) -> None:
    inst = state.instances.get(ev.instance)
    if inst is None or inst.phase not in ("updating", "watching"):
        return
    if ev.version != state.target(ev.instance) or ev.task_id in inst.counted:
        return
    _failure(state, ev.instance, inst, ev.task_id, ev.reason or "its task ended", now)


def _failure(
    state: UpdateState, i: int, inst: Instance, task_id: str, why: str, now: float
) -> bool:
    """Count one failure of instance ``i``; True if the instance has now failed for good."""
    if task_id:
        inst.counted.append(task_id)
    inst.failures += 1
    inst.phase, inst.since, inst.healthy_since, inst.task_id = "updating", now, None, ""
    limit = state.config.max_per_instance_failures
    _note(state, now, f"instance {i}: failure {inst.failures} ({why})")
    if inst.failures <= limit:
        return False
    inst.phase = "failed"
    state.failed.append(i)
    _note(state, now, f"instance {i} failed: {inst.failures} failure(s), more than {limit}")
    if len(state.failed) <= state.config.max_total_failures:
        return True
    if state.rolling_back:
        state.status = "failed"
        state.message = f"rollback failed: instance {i} did not stay healthy ({why})"
    elif state.config.rollback_on_failure:
        _start_rollback(state, i, why, now)
    else:
        state.status = "failed"
        state.message = f"instance {i} failed ({why}); rollback_on_failure is off"
    _note(state, now, state.message or state.status)
    return True


def _start_rollback(state: UpdateState, i: int, why: str, now: float) -> None:
    done = state.batches[: state.batch + 1]
    state.rollback = [list(reversed(b)) for b in reversed(done)]
    state.status = "rolling_back"
    state.batch = 0
    state.instances = {}
    state.failed = []
    state.message = (
        f"rolling back: instance {i} failed ({why}); more than "
        f"{state.config.max_total_failures} failed instance(s)"
    )


def _advance(state: UpdateState, now: float, out: list[Effect]) -> None:
    """Start, watch and finish batches until one is under way or the plan is done."""
    while state.status in ACTIVE:
        plan = state.plan
        if state.batch >= len(plan):
            state.status = "rolled_back" if state.rolling_back else "rolled_forward"
            state.message = state.message.replace("rolling back:", "rolled back:", 1)
            _note(state, now, state.status)
            return
        if not state.instances:
            state.instances = {i: Instance() for i in plan[state.batch]}
            _note(state, now, f"batch {state.batch + 1}/{len(plan)}: instances {plan[state.batch]}")
        batch = state.instances
        for i, inst in list(batch.items()):
            _step_instance(state, i, inst, now, out)
            if state.status not in ACTIVE:
                return
            if state.instances is not batch:  # a rollback began: its first batch is next
                break
        if state.instances is not batch:
            continue
        if any(inst.phase not in ("done", "failed") for inst in state.instances.values()):
            return
        state.batch += 1
        state.instances = {}


def _step_instance(
    state: UpdateState, i: int, inst: Instance, now: float, out: list[Effect]
) -> None:
    cfg = state.config
    if inst.phase == "pending":
        target = state.target(i)
        if state.rolling_back and i not in state.touched:
            inst.phase = "done"  # never changed: nothing to undo
        elif target is None:
            out.append(RemoveInstance(i))
            inst.phase = "done"
        else:
            out.append(SetInstance(i, target))
            inst.phase, inst.since = "updating", now
        if not state.rolling_back and i not in state.touched:
            state.touched.append(i)
    elif (
        inst.phase == "watching"
        and inst.healthy_since is not None
        and now - inst.healthy_since >= cfg.watch_secs
    ):
        inst.phase = "done"
        _note(state, now, f"instance {i}: healthy for {cfg.watch_secs:g}s")
    if inst.phase == "updating" and now - inst.since >= cfg.instance_timeout_secs:
        _failure(
            state,
            i,
            inst,
            "",
            f"not healthy for {cfg.watch_secs:g}s within {cfg.instance_timeout_secs:g}s",
            now,
        )
