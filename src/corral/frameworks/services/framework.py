"""The services framework on the toolkit: a ``Framework`` whose goals are the core's
decisions (one goal per app, counting what runs plus what the core wants launched now),
whose task infos come from ``taskinfo``, and whose updates feed the core. Kills are
explicit (the core picks which instance goes), so a goal never shrinks below what runs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from corral.frameworks.services import core as c
from corral.frameworks.services import records as rec
from corral.frameworks.services import taskinfo
from corral.frameworks.services.state import State
from corral.resources import Resources
from corral.scheduler_client.placement import TaskSpec
from corral.scheduler_client.planner import Goal, Launch
from corral.scheduler_client.toolkit import Framework
from corral.scheduler_client.tracker import TrackedTask, Unknown
from corral.wire.tasks import TaskInfo, TaskStatus

OUR_TASK = re.compile(r"^[a-z0-9._-]+\.[0-9a-f-]{8,}$")


def unknown_rule(status: TaskStatus) -> Unknown:
    """Adopt live tasks whose id is one of ours (an app's), kill the others. Adopted tasks
    of apps that no longer exist have no goal, so the planner kills them."""
    return Unknown.ADOPT if OUR_TASK.match(status.task_id.value) else Unknown.KILL


class ServicesFramework(Framework):
    name = "services"
    unknown_tasks = staticmethod(unknown_rule)

    def __init__(self, name: str = "services") -> None:
        self.name = name
        self.goals_of: Callable[[], Sequence[Goal]] = lambda: []
        self.launch_hook: Callable[[Launch, str], TaskInfo] | None = None
        self.update_hook: Callable[[TrackedTask, TaskStatus], None] | None = None
        self.inverse_hook: Callable[[str, str], None] | None = None  # (offer id, agent id)
        self.rescind_hook: Callable[[str], None] | None = None
        self.moved_hook: Callable[[], list[str]] | None = None
        self.preempt_hook: Callable[[list[str], str], list[str]] | None = None

    def desired(self) -> Sequence[Goal]:
        return self.goals_of()

    def task_info(self, launch: Launch, task_id: str) -> TaskInfo:
        if self.launch_hook is None:
            raise RuntimeError("services: no shell attached")
        return self.launch_hook(launch, task_id)

    def on_update(self, task: TrackedTask, status: TaskStatus) -> None:
        if self.update_hook is not None:
            self.update_hook(task, status)

    def on_inverse_offer(self, offer_id: str, agent_id: str) -> None:
        if self.inverse_hook is not None:
            self.inverse_hook(offer_id, agent_id)

    def on_rescind_inverse_offer(self, offer_id: str) -> None:
        if self.rescind_hook is not None:
            self.rescind_hook(offer_id)

    def moved(self) -> list[str]:
        return self.moved_hook() if self.moved_hook is not None else []

    def on_preempted(self, task_ids: list[str], reason: str) -> list[str]:
        if self.preempt_hook is None:
            return super().on_preempted(task_ids, reason)
        return self.preempt_hook(task_ids, reason)


def preempted(st: State, task_ids: list[str], now: float) -> tuple[list[c.Effect], list[str]]:
    """A preemption takes these instances back (docs/preemption.md): the core kills them and
    its apps launch them again as capacity returns. Also returns the ids that are no app's
    instance (the toolkit kills those)."""
    out: list[c.Effect] = []
    for tid in task_ids:
        app_id = st.task_app.get(tid)
        if app_id is not None:
            out += c.kill_instance(st, tid)
            out += c.converge(st, app_id, now)
    return out, [t for t in task_ids if t not in st.task_app]


def held_goals(tasks: Iterable[TrackedTask]) -> list[Goal]:
    """Before the state is indexed: keep what runs, group by group."""
    counts: dict[str, int] = {}
    for t in tasks:
        if t.live:
            counts[t.group] = counts.get(t.group, 0) + 1
    return [hold_goal(g, n) for g, n in counts.items()]


def app_goals(st: State, specs: dict[tuple[str, str], TaskSpec]) -> list[Goal]:
    """The toolkit's goals from the core's state: per app what runs plus what the core wants
    launched now (an app being deleted holds what still runs). ``specs`` caches each app
    version's TaskSpec."""
    goals = []
    for app in st.apps.values():
        live = sum(1 for i in app.instances.values() if i.tracked and not i.killing)
        if app.goal is None:
            if live:
                goals.append(hold_goal(rec.group_of_app(app.app_id), live))
            continue
        key = (app.app_id, app.goal.version or "")
        spec = specs.get(key)
        if spec is None:
            spec = specs[key] = taskinfo.task_spec(app.goal, group=rec.group_of_app(app.app_id))
        goals.append(app_goal(spec, live + app.launch, app.goal.task_kill_grace_period_seconds))
    return goals


def hold_goal(group: str, count: int) -> Goal:
    """Keep what runs in ``group`` (before the state is loaded): no launch, no kill."""
    return Goal(TaskSpec(name=group, resources=Resources(), group=group), count)


def app_goal(spec: TaskSpec, count: int, grace: float | None) -> Goal:
    return Goal(spec, count, kill_grace_period=grace)


__all__ = [
    "ServicesFramework",
    "app_goal",
    "app_goals",
    "held_goals",
    "hold_goal",
    "taskinfo",
    "unknown_rule",
]
