"""The jobs framework's functional core: jobs, schedules, runs, retries, dependencies (pure).

``JobsCore`` holds the jobs (definitions, parsed schedules, counters), the dependency graph,
the active runs and the recent results, and two heaps: the next due instant of each job and
the run timers (retry backoff, epsilon deadline, timeout). Every method takes ``now`` and
returns the effects the shell must carry out, in order; nothing here reads a clock or does
I/O. The shell arms one timer for ``next_wake()`` (no scan per tick).

Guarantees kept here:
* a run's record is written (``PutRun``) before the run may get a task (the shell makes a
  run's group visible to ``desired()`` only once that write is done);
* one run per job and cycle: a scheduled instant is never run twice;
* every instant is accounted for: run, ``missed`` (not started within ``epsilon``, with the
  reason) or ``skipped`` (concurrency policy, failed parent), never silently dropped.
"""

from __future__ import annotations

import heapq

import msgspec

from corral.frameworks.jobs import runs as R
from corral.frameworks.jobs.containers import container_info
from corral.frameworks.jobs.effects import (
    DeleteJob,
    Effect,
    PutJob,
    PutRun,
    PutState,
    Revive,
    TrimRuns,
)
from corral.frameworks.jobs.entry import Entry
from corral.frameworks.jobs.graph import Graph, GraphError, rewire_on_delete
from corral.frameworks.jobs.model import Job, JobError, UnknownJob, check_job
from corral.frameworks.jobs.runs import Attempt, JobState, Run, exit_status
from corral.frameworks.jobs.schedule import iso, parse_schedule
from corral.wire.tasks import is_terminal

MAX_BACKOFF = 600.0
CYCLES = 50  # cycle results kept per job (for dependencies)
TRIM_EVERY = 10  # ended runs between history trims
MISSED_ONE_BY_ONE = 5  # more missed instants than this are recorded as one summary run
SUCCESS_STATES = frozenset({"TASK_FINISHED"})


class JobsCore:
    def __init__(self, *, history: int = 100, prestage: float = 2.0) -> None:
        """``prestage``: a scheduled run is written this many seconds before its instant
        (it gets a task only at the instant), so 1,000 runs due at once are already in the
        store when they fall due."""
        self.jobs: dict[str, Entry] = {}
        self.graph = Graph()
        self.runs: dict[tuple[str, str], Run] = {}  # active runs
        self.groups: dict[str, tuple[str, str]] = {}  # group -> (job, run id), active runs
        self.unplaced: dict[str, str] = {}  # group -> why it does not fit
        self.history = history
        self._due: list[tuple[float, str]] = []
        self._undecided: list[tuple[float, str]] = []  # due, but a run is still active
        self.prestage = prestage
        self._timers: list[tuple[float, str, str]] = []
        self.loaded = False

    # ------------------------------------------------------------------ queries
    def next_wake(self) -> float | None:
        while self._due and self._stale_due(*self._due[0]):
            heapq.heappop(self._due)
        times = [self._due[0][0] - self.prestage] if self._due else []
        if self._undecided:
            times.append(self._undecided[0][0])
        if self._timers:
            times.append(self._timers[0][0])
        return min(times) if times else None

    def _stale_due(self, at: float, name: str) -> bool:
        e = self.jobs.get(name)
        return e is None or e.next_due != at

    def active_runs(self, name: str | None = None) -> list[Run]:
        out = [r for (j, _), r in self.runs.items() if name is None or j == name]
        return sorted(out, key=lambda r: R.sort_key(r.id))

    def wanted(self, now: float) -> list[Run]:
        """Runs that should have a task now."""
        out = []
        for r in self.runs.values():
            if r.kill_requested:
                continue
            if r.state == R.RUNNING or (r.state == R.PENDING and r.not_before <= now):
                out.append(r)
        return out

    def entry(self, name: str) -> Entry:
        e = self.jobs.get(name)
        if e is None:
            raise UnknownJob(name)
        return e

    def job_status(self, name: str) -> tuple[str, str]:
        """Chronos's (last result, state): success|failure|fresh, idle|queued|N running."""
        return R.last_result(self.entry(name).state), R.runs_state(self.active_runs(name))

    def blocked(self, name: str) -> str | None:
        """Why a job is not triggered, when it is not (for the page)."""
        e = self.entry(name)
        if e.job.disabled:
            return "the job is disabled"
        if e.recent and e.recent[-1].state == R.SKIPPED and e.recent[-1].kind == R.DEPENDENCY:
            return e.recent[-1].reason
        if e.schedule is not None and e.next_due is None and not e.job.parents:
            return "its schedule has no more occurrences"
        return None

    # ------------------------------------------------------------------ loading
    def load(
        self,
        jobs: list[Job],
        states: dict[str, JobState],
        runs: list[Run],
        live: dict[str, tuple[str, str, str]],
        now: float,
    ) -> list[Effect]:
        """The store's content, read by a new leader. ``live`` maps the groups of tasks the
        toolkit tracks to (task id, agent id, host)."""
        out: list[Effect] = []
        for job in jobs:
            self._index(job, states.get(job.name) or JobState())
        for job in jobs:  # parents may come after children in the store
            self.graph.put(job.name, [p for p in job.parents if p in self.jobs])
        for r in sorted(runs, key=lambda r: R.sort_key(r.id)):
            e = self.jobs.get(r.job)
            if e is None:
                continue
            if r.active:
                self._track(r)
                if r.group in live and r.state == R.PENDING:
                    task_id, agent, host = live[r.group]
                    out += self.launched(r.group, task_id, agent, host, now)
            else:
                self._remember(e, r)
        for name, e in self.jobs.items():
            e.state.active = [i for (j, i) in self.runs if j == name]
            out += self._catch_up(e, now)
        self.loaded = True
        return out

    def _index(self, job: Job, state: JobState) -> Entry:
        sched = parse_schedule(job.schedule, job.schedule_time_zone) if job.schedule else None
        e = self.jobs.get(job.name)
        if e is None:
            e = self.jobs[job.name] = Entry(job=job, schedule=sched, state=state)
        else:
            e.job, e.schedule = job, sched
        e.version += 1
        return e

    def _track(self, r: Run) -> None:
        self.runs[(r.job, r.id)] = r
        self.groups[r.group] = (r.job, r.id)
        self._arm(r)

    def _arm(self, r: Run) -> None:
        for at in (r.not_before, r.deadline):
            if at:
                heapq.heappush(self._timers, (at, r.job, r.id))
        e = self.jobs.get(r.job)
        cur = r.current
        if e is not None and e.job.timeout and cur is not None and cur.launched is not None:
            heapq.heappush(self._timers, (cur.launched + e.job.timeout, r.job, r.id))

    def _remember(self, e: Entry, r: Run) -> None:
        if not e.recent or R.sort_key(e.recent[-1].id) <= R.sort_key(r.id):
            e.recent.append(r)
        e.cycles[r.cycle] = r.state
        if len(e.cycles) > CYCLES:
            for c in sorted(e.cycles, key=lambda c: c[1:])[: len(e.cycles) - CYCLES]:
                del e.cycles[c]

    def checks_on_load(self, job: Job, state: JobState, now: float) -> list[str]:
        """Run ids the shell must read on load besides the active ones: the scheduled
        instants since the last one recorded (a run written just before a failover), and the
        recent cycles of a parent (for its children)."""
        if not job.schedule or state.last_instant is None:
            return []
        sched = parse_schedule(job.schedule, job.schedule_time_zone)
        return [R.cycle_of_instant(t) for t in sched.between(state.last_instant, now, 20)]

    def _catch_up(self, e: Entry, now: float) -> list[Effect]:
        """After a failover: the instants nobody handled are run (within epsilon) or
        recorded as missed; then the next one is armed."""
        out: list[Effect] = []
        if e.schedule is None or e.job.parents or e.job.disabled:
            e.next_due = None
            return out
        last = e.state.last_instant if e.state.last_instant is not None else now - 1.0
        eps = e.job.epsilon_seconds

        def owed(t: float) -> bool:
            c = R.cycle_of_instant(t)
            return c not in e.cycles and (e.job.name, c) not in self.runs

        edge = max(last, now - eps)
        gone = [t for t in e.schedule.between(last, edge, MISSED_ONE_BY_ONE + 1) if owed(t)]
        late = [t for t in e.schedule.between(edge, now, 100) if owed(t)]
        if len(gone) > MISSED_ONE_BY_ONE:
            total = e.schedule.count_between(last, edge)
            reason = (
                f"{total} instants from {iso(gone[0])} to {iso(edge)} were missed: no "
                "instance of the framework was leading then"
            )
            out += self._record_missed(e, gone[0], reason, now)
        else:
            for t in gone:
                out += self._record_missed(
                    e, t, "no instance of the framework was leading at its instant", now
                )
        for t in late:
            out += self._start_scheduled(e, t, now)
        e.state.last_instant = max(last, now)
        e.next_due = e.schedule.next_at(now + 0.001)
        self._push_due(e)
        out.append(self._put_state(e))
        return out

    def _push_due(self, e: Entry) -> None:
        if e.next_due is not None:
            heapq.heappush(self._due, (e.next_due, e.job.name))

    # ------------------------------------------------------------------ jobs
    def add_job(self, job: Job, now: float) -> list[Effect]:
        """Create or replace a job. Raises JobError (nothing changes) if it is refused."""
        job = check_job(job, now)
        if job.container is not None:
            container_info(job.container)  # raises JobError naming the field
        try:
            self.graph.check(job.name, job.parents)
        except GraphError as exc:
            raise JobError(str(exc)) from exc
        old = self.jobs.get(job.name)
        state = old.state if old is not None else JobState()
        if old is None or old.job.schedule != job.schedule or old.job.disabled != job.disabled:
            state.last_instant = now - 1.0  # instants before it existed are not owed
        e = self._index(job, state)
        self.graph.put(job.name, job.parents)
        e.next_due = None
        if e.schedule is not None and not job.disabled and not job.parents:
            after = state.last_instant if state.last_instant is not None else now - 1.0
            e.next_due = e.schedule.next_at(after + 0.001)
        self._push_due(e)
        return [PutJob(job), self._put_state(e), *self.tick(now)]

    def delete_job(self, name: str, now: float) -> list[Effect]:
        e = self.entry(name)
        out: list[Effect] = []
        for child, (parents, schedule) in rewire_on_delete(
            name, tuple(e.job.parents), e.job.schedule, self.graph
        ).items():
            ce = self.jobs[child]
            new = msgspec.structs.replace(ce.job, parents=list(parents), schedule=schedule)
            if not parents and not schedule:
                new = msgspec.structs.replace(new, disabled=True)
            self.graph.put(child, parents)
            ce2 = self._index(new, ce.state)
            ce2.state.last_instant = now
            ce2.next_due = ce2.schedule.next_at(now) if ce2.schedule and not parents else None
            self._push_due(ce2)
            out.append(PutJob(new))
        for r in self.active_runs(name):
            self._untrack(r)
        self.graph.remove(name)
        del self.jobs[name]
        out.append(DeleteJob(name))
        return out

    def set_disabled(self, name: str, disabled: bool, now: float) -> list[Effect]:
        e = self.entry(name)
        if e.job.disabled == disabled:
            return []
        return self.add_job(msgspec.structs.replace(e.job, disabled=disabled), now)

    def run_now(self, name: str, now: float) -> list[Effect]:
        e = self.entry(name)
        cycle = R.manual_cycle(now)
        while (name, cycle) in self.runs or cycle in e.cycles:
            now += 0.001
            cycle = R.manual_cycle(now)
        run = Run(id=cycle, job=name, kind=R.MANUAL, cycle=cycle, scheduled=now, created=now)
        return self._start(e, run, now)

    def kill_runs(self, name: str, now: float, why: str = "killed by a user") -> list[Effect]:
        self.entry(name)
        out: list[Effect] = []
        for r in self.active_runs(name):
            out += self._kill(r, why, R.KILLED, now)
        return out

    def _kill(self, r: Run, why: str, final: str, now: float) -> list[Effect]:
        if r.state == R.RUNNING:
            r.kill_requested = f"{final}:{why}"
            return [self._put_run(r)]  # no longer wanted: the toolkit kills its task
        r.reason = why
        return self._finish(r, final, now)

    # ------------------------------------------------------------------ time
    def tick(self, now: float) -> list[Effect]:
        out: list[Effect] = []
        while self._undecided and self._undecided[0][0] <= now:
            at, name = heapq.heappop(self._undecided)
            e = self.jobs.get(name)
            still = e is not None and e.schedule is not None and e.schedule.next_at(at) == at
            if e is not None and still and not e.job.disabled and not e.job.parents:
                out += self._start_scheduled(e, at, now)
                self._handled(e, at)
                out.append(self._put_state(e))
        while self._due and self._due[0][0] - self.prestage <= now:
            at, name = heapq.heappop(self._due)
            e = self.jobs.get(name)
            if e is None or e.next_due != at or e.schedule is None:
                continue
            if at > now and self.active_runs(name):
                heapq.heappush(self._undecided, (at, name))  # the policy decides at the instant
            else:
                out += self._start_scheduled(e, at, now)
            self._handled(e, at)
            e.next_due = e.schedule.next_at(at + 0.001)
            self._push_due(e)
            out.append(self._put_state(e))
        while self._timers and self._timers[0][0] <= now:
            _, job, run_id = heapq.heappop(self._timers)
            r = self.runs.get((job, run_id))
            if r is not None:
                out += self._check_timers(r, now)
        return out

    def _handled(self, e: Entry, at: float) -> None:
        """Move the job's last handled instant to ``at``, but never past an instant still
        waiting for its decision (a new leader must see that one as owed)."""
        waiting = [t for t, n in self._undecided if n == e.job.name and t <= at]
        mark = min(waiting) - 0.01 if waiting else at
        e.state.last_instant = max(e.state.last_instant or mark, mark) if not waiting else mark

    def _check_timers(self, r: Run, now: float) -> list[Effect]:
        e = self.jobs[r.job]
        cur = r.current
        if r.state == R.PENDING and r.deadline and now >= r.deadline and r.attempt == 1:
            why = self.unplaced.get(r.group) or "no offer arrived"
            r.reason = f"not started within epsilon ({e.job.epsilon}) of {iso(r.scheduled)}: {why}"
            return self._finish(r, R.MISSED, now)
        if r.state == R.RETRYING and now >= r.not_before:
            r.state = R.PENDING
            return [self._put_run(r, launchable=True), Revive()]
        if r.state == R.PENDING and r.not_before and now >= r.not_before:
            return [Revive()]  # a prestaged run falls due: offers, please
        if (
            r.state == R.RUNNING
            and e.job.timeout
            and cur is not None
            and cur.launched is not None
            and now >= cur.launched + e.job.timeout
            and not r.kill_requested
        ):
            cur.timed_out = True
            r.kill_requested = f"timeout:timed out after {e.job.timeout:g} s"
            return [self._put_run(r)]
        return []

    # ------------------------------------------------------------------ starting runs
    def _start_scheduled(self, e: Entry, at: float, now: float) -> list[Effect]:
        cycle = R.cycle_of_instant(at)
        if (e.job.name, cycle) in self.runs or cycle in e.cycles:
            return []  # already taken (never twice)
        run = Run(
            id=cycle,
            job=e.job.name,
            kind=R.SCHEDULE,
            cycle=cycle,
            scheduled=at,
            created=now,
            deadline=at + e.job.epsilon_seconds,
            not_before=at if at > now else 0.0,
        )
        if now > run.deadline:
            run.reason = (
                f"due at {iso(at)}, noticed only at {iso(now)} (past epsilon {e.job.epsilon})"
            )
            return self._record(e, run, R.MISSED, now)
        return self._start(e, run, now)

    def _record_missed(self, e: Entry, at: float, reason: str, now: float) -> list[Effect]:
        cycle = R.cycle_of_instant(at)
        run = Run(id=cycle, job=e.job.name, kind=R.SCHEDULE, cycle=cycle, scheduled=at, created=now)
        run.reason = reason
        return self._record(e, run, R.MISSED, now)

    def _start(self, e: Entry, run: Run, now: float) -> list[Effect]:
        """A new run: the concurrency policy decides, then it is written and wanted."""
        out: list[Effect] = []
        active = self.active_runs(e.job.name)
        if active and run.kind != R.MANUAL:
            policy = e.job.policy
            if policy == "forbid":
                run.reason = (
                    f"run {active[0].id} was still {active[0].state} (concurrencyPolicy forbid)"
                )
                return self._record(e, run, R.SKIPPED, now)
            if policy == "replace":
                for old in active:
                    out += self._kill(old, f"replaced by run {run.id}", R.REPLACED, now)
        self._track(run)
        e.state.active = [*e.state.active, run.id]
        out += [self._put_run(run, launchable=True), self._put_state(e), Revive()]
        return out

    def _record(self, e: Entry, run: Run, final: str, now: float) -> list[Effect]:
        """A run that ends as soon as it exists (missed, skipped)."""
        run.state = final
        run.ended = now
        self._remember(e, run)
        out: list[Effect] = [self._put_run(run)]
        out += self._after_end(e, run, now)
        return out

    # ------------------------------------------------------------------ tasks
    def launched(self, group: str, task_id: str, agent: str, host: str, now: float) -> list[Effect]:
        """The toolkit is launching a task for ``group`` (just before its ACCEPT; its task
        record is already written)."""
        key = self.groups.get(group)
        r = self.runs.get(key) if key else None
        if r is None or r.attempt != (R.parse_group(group) or ("", "", 0))[2]:
            return []
        cur = r.current
        if cur is None:
            cur = Attempt(attempt=r.attempt)
            r.attempts = [*r.attempts, cur]
        cur.task_id, cur.agent_id, cur.host = task_id, agent, host
        if cur.launched is None:
            cur.launched = now
        r.state = R.RUNNING
        self.unplaced.pop(group, None)
        self._arm(r)
        # Not written now: the toolkit has just written the task's record (its group names
        # this run), which a new leader reads back; the run is written at TASK_RUNNING. So a
        # burst of launches costs one write per task, not two, before the ACCEPT goes out.
        return []

    def task_update(
        self, group: str, task_id: str, state: str, message: str, agent: str, now: float
    ) -> list[Effect]:
        key = self.groups.get(group)
        r = self.runs.get(key) if key else None
        parsed = R.parse_group(group)
        if r is None or parsed is None or parsed[2] != r.attempt:
            return []
        out: list[Effect] = []
        if r.state == R.PENDING or r.current is None or r.current.task_id != task_id:
            out += self.launched(group, task_id, agent, "", now)
        cur = r.current
        assert cur is not None
        cur.state = state
        if agent:
            cur.agent_id = agent
        if state == "TASK_RUNNING" and cur.started is None:
            cur.started = now
            out.append(self._put_run(r))
        if not (is_terminal(state) or state == "TASK_UNKNOWN"):  # an attempt ends there too
            return out
        cur.ended = now
        cur.message = message
        cur.exit_status = exit_status(message)
        if cur.exit_status is None and state == "TASK_FINISHED":
            cur.exit_status = 0
        self.groups.pop(group, None)
        e = self.jobs[r.job]
        if r.kill_requested:
            final, _, why = r.kill_requested.partition(":")
            r.kill_requested = ""
            if final != "timeout":
                r.reason = why
                return out + self._finish(r, final, now)
            cur.message = why
            return out + self._failed_attempt(e, r, now)
        if state in SUCCESS_STATES:
            r.reason = ""
            return out + self._finish(r, R.SUCCEEDED, now)
        return out + self._failed_attempt(e, r, now)

    def _failed_attempt(self, e: Entry, r: Run, now: float) -> list[Effect]:
        cur = r.current
        what = cur.message if cur is not None and cur.message else "failed"
        if r.attempt <= e.job.retries:
            backoff = min(MAX_BACKOFF, e.job.retry_backoff_seconds * 2 ** (r.attempt - 1))
            r.attempt += 1
            r.state = R.RETRYING
            r.not_before = now + backoff
            r.deadline = 0.0
            r.reason = f"attempt {r.attempt - 1} failed ({what}); retrying in {backoff:g} s"
            self.groups[r.group] = (r.job, r.id)
            self._arm(r)
            if backoff <= 0:
                r.state = R.PENDING
                return [self._put_run(r, launchable=True), Revive()]
            return [self._put_run(r)]
        r.reason = f"failed after {r.attempt} attempt(s): {what}"
        return self._finish(r, R.FAILED, now)

    def _finish(self, r: Run, final: str, now: float) -> list[Effect]:
        e = self.jobs[r.job]
        r.state = final
        r.ended = now
        self._untrack(r)
        st = e.state
        if final == R.SUCCEEDED:
            st.success_count += 1
            st.last_success = now
            st.errors_since_last_success = 0
            started = r.started
            if started is not None:
                st.durations = [*st.durations[-99:], round(now - started, 3)]
        elif final == R.FAILED:
            st.error_count += 1
            st.last_error = now
            st.errors_since_last_success += 1
        self._remember(e, r)
        e.version += 1
        out: list[Effect] = [self._put_run(r)]
        out += self._after_end(e, r, now)
        return out

    def _untrack(self, r: Run) -> None:
        self.runs.pop((r.job, r.id), None)
        self.groups.pop(r.group, None)
        self.unplaced.pop(r.group, None)
        e = self.jobs.get(r.job)
        if e is not None:
            e.state.active = [i for i in e.state.active if i != r.id]

    def _after_end(self, e: Entry, r: Run, now: float) -> list[Effect]:
        """Counters written, history trimmed now and then, children triggered or skipped."""
        out: list[Effect] = [self._put_state(e)]
        e.ended_since_trim += 1
        if e.ended_since_trim >= TRIM_EVERY:
            e.ended_since_trim = 0
            out.append(TrimRuns(e.job.name, self.history, tuple(e.state.active)))
        ok = r.state == R.SUCCEEDED or (r.state == R.FAILED and e.job.soft_error)
        for child in sorted(self.graph.children.get(e.job.name, ())):
            ce = self.jobs.get(child)
            if ce is None or ce.job.disabled:
                continue
            if (child, r.cycle) in self.runs or r.cycle in ce.cycles:
                continue
            if not ok:
                run = self._dependent_run(ce, r.cycle, now)
                run.reason = f"parent {e.job.name}'s run {r.id} {r.state}: {r.reason}".rstrip(": ")
                out += self._record(ce, run, R.SKIPPED, now)
                continue
            parents = self.graph.parents.get(child, ())
            if all(self._parent_ok(p, r.cycle) for p in parents):
                out += self._start(ce, self._dependent_run(ce, r.cycle, now), now)
        return out

    def _parent_ok(self, parent: str, cycle: str) -> bool:
        pe = self.jobs.get(parent)
        if pe is None:
            return False
        result = pe.cycles.get(cycle)
        return result == R.SUCCEEDED or (result == R.FAILED and pe.job.soft_error)

    def _dependent_run(self, e: Entry, cycle: str, now: float) -> Run:
        return Run(
            id=cycle,
            job=e.job.name,
            kind=R.DEPENDENCY,
            cycle=cycle,
            scheduled=now,
            created=now,
        )

    def set_unplaced(self, group: str, reason: str) -> None:
        if group in self.groups:
            self.unplaced[group] = reason

    # ------------------------------------------------------------------ writing
    def _put_run(self, r: Run, *, launchable: bool = False) -> PutRun:
        return PutRun(r.job, r.id, R.encode_run(r), r.group if launchable else "")

    def _put_state(self, e: Entry) -> PutState:
        e.version += 1
        return PutState(e.job.name, R.encode_state(e.state))


__all__ = ["JobsCore"]
