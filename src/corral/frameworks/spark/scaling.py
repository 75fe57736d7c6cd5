"""When to add and remove Spark workers (pure): the Spark master's view, our workers, now.

``step(view, workers, now, config) -> Step``: the workers' records brought up to date (when
each registered, since when it is idle) and the effects for the shell: ``Launch`` a new
worker, ``Kill`` one of ours. No clock, socket or event loop here; the shell polls the
Spark master, calls ``step`` and carries the effects out.

The rules (the ci framework's elastic pattern, with Spark's master as the queue):

* **Demand** is the applications the Spark master lists as ``WAITING``: they have no
  executor yet. Each waiting application whose executors fit a worker of ours
  (``memoryperexecutor`` at most the worker's Spark memory) wants one worker; workers of
  ours that are launched but not registered with the Spark master yet count as coming. An
  application whose executors are larger than a worker is said, not served.
* A worker is **added** for each wanted one that is not coming, up to ``max_workers``
  (workers being removed count against it); at least ``min_workers`` are kept running.
* A registered worker with no core in use is **idle**; idle for ``idle_timeout`` seconds,
  while no application waits, it is **removed**, unless that would leave fewer than
  ``min_workers``.
* A worker not launched yet (the cluster has no room for it) is dropped once no
  application waits.
* A worker launched but not registered with the Spark master after ``register_timeout``
  seconds (it cannot reach it), or started against a Spark master that has since moved,
  is removed (and a new one is added if work waits).
* Nothing is decided while the Spark master cannot be read or is not ``ALIVE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from corral.frameworks.spark.view import MasterView

PENDING = "pending"  # decided, not launched yet
STARTING = "starting"  # launched (a task), not registered with the Spark master yet
REGISTERED = "registered"  # listed ALIVE by the Spark master
REMOVING = "removing"  # being killed


@dataclass(frozen=True)
class ScaleConfig:
    min_workers: int = 0
    max_workers: int = 4
    idle_timeout: float = 30.0
    register_timeout: float = 120.0
    worker_memory: int = 1024  # MB of executor memory a worker offers Spark (its --memory)

    def problems(self) -> list[str]:
        """What is wrong with these values, each naming the setting."""
        out = []
        if self.min_workers < 0:
            out.append(f"min-workers must be at least 0, not {self.min_workers}")
        if self.max_workers < max(1, self.min_workers):
            out.append(
                f"max-workers must be at least 1 and at least min-workers ({self.min_workers}), "
                f"not {self.max_workers}"
            )
        if self.idle_timeout < 0:
            out.append(f"idle-timeout must be at least 0, not {self.idle_timeout:g}")
        if self.register_timeout <= 0:
            out.append(f"register-timeout must be above 0, not {self.register_timeout:g}")
        return out


@dataclass(frozen=True)
class Worker:
    """One worker of ours. ``host``/``port``: where its task listens (known once launched);
    ``master_url``: the Spark master it was started against (None: not known, after a
    restart of the framework)."""

    name: str
    created_at: float
    state: str = PENDING
    host: str = ""
    port: int | None = None
    master_url: str | None = None
    launched_at: float | None = None
    registered_at: float | None = None
    idle_since: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Launch:
    reason: str


@dataclass(frozen=True)
class Kill:
    name: str
    reason: str


Effect = Launch | Kill


@dataclass(frozen=True)
class Step:
    workers: tuple[Worker, ...]
    effects: tuple[Effect, ...] = ()
    waiting: tuple[str, ...] = ()  # why waiting applications get no (more) worker
    demand: int = 0  # applications waiting for executors


@dataclass
class _Acc:
    effects: list[Effect] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def _refresh(w: Worker, view: MasterView, now: float) -> Worker:
    """One worker's state from the Spark master's view."""
    if w.state in (PENDING, REMOVING) or w.port is None:
        return w
    sw = view.alive_worker(w.host, w.port)
    if sw is None:
        return replace(w, state=STARTING, idle_since=None, note="not registered with Spark yet")
    if sw.coresused == 0:
        idle_since = w.idle_since if w.idle_since is not None else now
        note = f"idle, {sw.cores} cores free"
    else:
        idle_since = None
        note = f"{sw.coresused} of {sw.cores} cores in use"
    return replace(
        w,
        state=REGISTERED,
        registered_at=w.registered_at if w.registered_at is not None else now,
        idle_since=idle_since,
        note=note,
    )


def step(
    view: MasterView | None,
    workers: Sequence[Worker],
    now: float,
    cfg: ScaleConfig,
    *,
    master_url: str = "",
) -> Step:
    """The decisions for this moment (see the module's rules). ``master_url``: the
    ``spark://`` URL of the Spark master that runs now."""
    if view is None or not view.alive:
        return Step(tuple(workers))
    master_url = master_url or view.url
    acc = _Acc()
    current = [_refresh(w, view, now) for w in workers]
    out: dict[str, Worker] = {w.name: w for w in current}

    def kill(w: Worker, reason: str) -> None:
        out[w.name] = replace(w, state=REMOVING, note=f"removing: {reason}")
        acc.effects.append(Kill(w.name, reason))

    # Workers that cannot serve: started against another Spark master, or never registered.
    for w in current:
        if w.state == REMOVING:
            continue
        if w.master_url is not None and w.master_url != master_url:
            kill(w, f"started against {w.master_url}; the Spark master is now {master_url}")
        elif (
            w.state == STARTING
            and w.registered_at is None
            and w.launched_at is not None
            and now - w.launched_at >= cfg.register_timeout
        ):
            kill(
                w,
                f"not registered with the Spark master {cfg.register_timeout:g} s after launch",
            )
    live = [w for w in out.values() if w.state != REMOVING]
    total = len(out)
    coming = sum(1 for w in live if w.state in (PENDING, STARTING))
    waiting = [a for a in view.activeapps if a.waiting]
    fitting = [a for a in waiting if a.memoryperexecutor <= cfg.worker_memory]
    for a in waiting:
        if a.memoryperexecutor > cfg.worker_memory:
            acc.waiting.append(
                f"application {a.name or a.id} wants executors of {a.memoryperexecutor} MB; "
                f"a worker offers {cfg.worker_memory} MB (raise --worker-mem)"
            )
    want = max(len(fitting) - coming, cfg.min_workers - len(live), 0)
    room = max(0, cfg.max_workers - total)
    adds = min(want, room)
    for i in range(adds):
        if len(live) + i < cfg.min_workers:
            acc.effects.append(Launch(f"keeps its minimum of {cfg.min_workers} workers"))
        else:
            names = ", ".join(a.name or a.id for a in fitting)
            acc.effects.append(Launch(f"{len(fitting)} application(s) wait for executors: {names}"))
    if want > adds:
        acc.waiting.append(
            f"{len(fitting)} application(s) wait; at the maximum of {cfg.max_workers} workers"
        )
    # Without waiting work, workers not launched yet are dropped (beyond the minimum), then
    # idle ones go, oldest idle first.
    if not fitting:
        keep = len(live)
        for w in sorted((w for w in live if w.state == PENDING), key=lambda w: w.created_at)[::-1]:
            if keep <= cfg.min_workers:
                break
            keep -= 1
            kill(w, "no application waits any more")
        idle = sorted(
            (w for w in live if w.state == REGISTERED and w.idle_since is not None),
            key=lambda w: (w.idle_since or 0.0, w.name),
        )
        for w in idle:
            assert w.idle_since is not None
            if now - w.idle_since < cfg.idle_timeout or keep <= cfg.min_workers:
                continue
            keep -= 1
            kill(w, f"idle for {now - w.idle_since:.0f} s (idle-timeout {cfg.idle_timeout:g} s)")
    ordered = tuple(out[w.name] for w in workers)
    return Step(ordered, tuple(acc.effects), tuple(acc.waiting), len(waiting))


__all__ = [
    "PENDING",
    "REGISTERED",
    "REMOVING",
    "STARTING",
    "Effect",
    "Kill",
    "Launch",
    "ScaleConfig",
    "Step",
    "Worker",
    "step",
]
