"""The Aurora-style update engine, driven by events with a chosen clock (no event loop)."""

from __future__ import annotations

import msgspec
import pytest

from corral.frameworks.aurora.spec import UpdateConfig
from corral.frameworks.aurora.update import (
    Abort,
    CommandRefused,
    Effect,
    Finished,
    Observed,
    Pause,
    RemoveInstance,
    Resume,
    SetInstance,
    TaskFailed,
    Tick,
    UpdateState,
    handle,
    new_update,
)

OLD, NEW = "old", "new"


def update(n: int = 9, to: int | None = None, **cfg: object) -> UpdateState:
    config = msgspec.convert(
        {"batch_size": 3, "watch_secs": 10, "instance_timeout_secs": 100, **cfg}, UpdateConfig
    )
    return new_update(
        "web/prod/hello",
        from_version=OLD,
        to_version=NEW,
        from_instances=n,
        to_instances=n if to is None else to,
        config=config,
        now=0.0,
    )


def sets(effects: list[Effect]) -> list[tuple[int, str]]:
    return [(e.instance, e.version) for e in effects if isinstance(e, SetInstance)]


class Sim:
    """The update plus what its instances run; ``healthy(i, v)`` says whether a task of
    version v on instance i passes its checks."""

    def __init__(self, state: UpdateState, healthy: object = None) -> None:
        self.state = state
        self.now = 0.0
        self.running: dict[int, str] = dict.fromkeys(range(state.from_instances), OLD)
        self.serial = 0
        self.tasks: dict[int, str] = {i: f"t{i}-0" for i in self.running}
        self.order: list[tuple[int, str]] = []
        self.finished: list[Finished] = []
        self.ok = healthy if callable(healthy) else (lambda i, v: True)

    def apply(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, SetInstance):
                self.order.append((e.instance, e.version))
                self.running[e.instance] = e.version
                self.serial += 1
                self.tasks[e.instance] = f"t{e.instance}-{self.serial}"
            elif isinstance(e, RemoveInstance):
                self.order.append((e.instance, "-"))
                self.running.pop(e.instance, None)
            elif isinstance(e, Finished):
                self.finished.append(e)

    def feed(self, event: object) -> list[Effect]:
        effects = handle(self.state, event, self.now)  # type: ignore[arg-type]
        self.apply(effects)
        return effects

    def step(self, dt: float = 1.0) -> None:
        """Time passes; every instance of the batch is observed; a failing one fails."""
        self.now += dt
        for i in list(self.state.instances):
            v = self.running.get(i, "")
            if v and not self.ok(i, v):
                self.feed(TaskFailed(i, v, self.tasks[i], "health checks failed"))
                self.serial += 1
                self.tasks[i] = f"t{i}-{self.serial}"  # restarted by the services framework
                continue
            self.feed(Observed(i, v, self.tasks.get(i, "") if v else "", healthy=bool(v)))
        self.feed(Tick())

    def run(self, limit: int = 1000) -> None:
        self.feed(Tick())
        for _ in range(limit):
            if self.finished:
                return
            self.step()
        raise AssertionError(f"not finished: {self.state.status} {self.state.message}")


def test_batches_go_in_order_and_each_waits_for_its_watch() -> None:
    sim = Sim(update())
    first = sim.feed(Tick())
    assert sets(first) == [(0, NEW), (1, NEW), (2, NEW)]
    sim.step()  # observed healthy at t=1: the watch starts
    sim.step(8.0)  # t=9: not yet 10 s healthy
    assert sorted(sim.state.instances) == [0, 1, 2]
    sim.step(1.0)  # t=10... healthy since t=1: 9 s
    assert sorted(sim.state.instances) == [0, 1, 2]
    sim.step(1.0)  # t=11: 10 s: batch done, the next starts at once
    assert sorted(sim.state.instances) == [3, 4, 5]
    sim.run()
    assert sim.order == [(i, NEW) for i in range(9)]
    assert sim.finished == [Finished("rolled_forward", NEW)]
    assert sim.state.status == "rolled_forward"


def test_unhealthy_during_the_watch_starts_it_over() -> None:
    sim = Sim(update(n=1, batch_size=1))
    sim.feed(Tick())
    sim.now = 1
    sim.feed(Observed(0, NEW, "t0-1", healthy=True))
    sim.now = 8
    sim.feed(Observed(0, NEW, "t0-1", healthy=False))
    sim.now = 12
    sim.feed(Observed(0, NEW, "t0-1", healthy=True))
    sim.now = 21
    sim.feed(Tick())
    assert sim.state.status == "rolling_forward"  # healthy only 9 s in a row
    sim.now = 22
    sim.feed(Tick())
    assert sim.state.status == "rolled_forward"


def test_observations_of_the_old_version_do_not_count() -> None:
    sim = Sim(update(n=1, batch_size=1))
    sim.feed(Tick())
    for t in range(1, 50):
        sim.now = t
        sim.feed(Observed(0, OLD, "t0-0", healthy=True))
    assert sim.state.status == "rolling_forward"
    assert sim.state.instances[0].phase == "updating"


def test_a_failing_version_rolls_back_in_reverse_batch_order() -> None:
    # instances 6..8 are fine with the new version until instance 8 fails
    sim = Sim(update(), healthy=lambda i, v: not (v == NEW and i == 8))
    sim.run()
    forward = [(i, NEW) for i in range(9)]
    back = [(i, OLD) for i in (8, 7, 6, 5, 4, 3, 2, 1, 0)]
    assert sim.order == forward + back
    assert sim.finished == [Finished("rolled_back", OLD)]
    assert all(v == OLD for v in sim.running.values())
    assert "instance 8 failed" in sim.state.message


def test_rollback_skips_the_instances_never_touched() -> None:
    sim = Sim(update(), healthy=lambda i, v: not (v == NEW and i == 4))
    sim.run()
    assert sim.order == [(i, NEW) for i in range(6)] + [(i, OLD) for i in (5, 4, 3, 2, 1, 0)]
    assert sim.state.status == "rolled_back"


def test_failure_limits_per_instance_and_in_total() -> None:
    flaky = {"left": 2}

    def healthy(i: int, v: str) -> bool:
        if v == NEW and i == 1 and flaky["left"] > 0:
            flaky["left"] -= 1
            return False
        return not (v == NEW and i == 4)

    # instance 1 fails twice (allowed: 2 per instance); instance 4 fails for good (allowed:
    # one failed instance in total): the update still rolls forward
    sim = Sim(update(max_per_instance_failures=2, max_total_failures=1), healthy)
    sim.run()
    assert sim.state.status == "rolled_forward"
    assert sim.state.failed == [4]


def test_max_total_failures_exceeded_rolls_back() -> None:
    sim = Sim(update(max_total_failures=1), healthy=lambda i, v: not (v == NEW and i in (1, 5)))
    sim.run()
    assert sim.state.status == "rolled_back"
    assert sim.order[-6:] == [(i, OLD) for i in (5, 4, 3, 2, 1, 0)]


def test_no_rollback_when_it_is_off() -> None:
    sim = Sim(update(rollback_on_failure=False), healthy=lambda i, v: not (v == NEW and i == 0))
    sim.run()
    assert sim.state.status == "failed"
    assert sim.finished == [Finished("failed", NEW)]
    assert sim.order == [(0, NEW), (1, NEW), (2, NEW)]


def test_an_instance_never_healthy_times_out() -> None:
    sim = Sim(update(n=1, batch_size=1))
    sim.feed(Tick())
    sim.now = 99
    sim.feed(Tick())
    assert sim.state.status == "rolling_forward"
    sim.now = 100
    sim.feed(Tick())
    assert sim.state.status == "rolling_back"
    assert "within 100s" in sim.state.message


def test_a_replaced_task_between_looks_is_a_failure() -> None:
    sim = Sim(update(n=1, batch_size=1))
    sim.feed(Tick())
    sim.now = 1
    sim.feed(Observed(0, NEW, "a", healthy=True))
    sim.now = 2
    effects = sim.feed(Observed(0, NEW, "b", healthy=True))
    assert sim.state.status == "rolling_back"
    assert sets(effects) == [(0, OLD)]


def test_scale_up_and_down_in_an_update() -> None:
    up = Sim(update(n=2, to=4, batch_size=2))
    up.run()
    assert up.order == [(0, NEW), (1, NEW), (2, NEW), (3, NEW)]
    down = Sim(update(n=4, to=2, batch_size=2))
    down.run()
    assert down.order == [(0, NEW), (1, NEW), (2, "-"), (3, "-")]
    assert set(down.running) == {0, 1}


def test_rollback_of_a_scale_up_removes_the_new_instances() -> None:
    sim = Sim(update(n=1, to=3, batch_size=1), healthy=lambda i, v: not (v == NEW and i == 2))
    sim.run()
    assert sim.order == [(0, NEW), (1, NEW), (2, NEW), (2, "-"), (1, "-"), (0, OLD)]
    assert set(sim.running) == {0}


def test_pause_holds_and_resume_restarts_the_watch() -> None:
    sim = Sim(update())
    sim.feed(Tick())
    sim.step()
    sim.feed(Pause())
    assert sim.state.status == "roll_forward_paused"
    for _ in range(30):
        sim.step()
    assert sorted(sim.state.instances) == [0, 1, 2]  # no progress while paused
    assert sim.order == [(0, NEW), (1, NEW), (2, NEW)]
    sim.feed(Resume())
    assert sim.state.status == "rolling_forward"
    for _ in range(10):
        sim.step()
    assert sorted(sim.state.instances) == [0, 1, 2]  # the watch started over at resume
    sim.run()
    assert sim.state.status == "rolled_forward"


def test_pause_during_a_rollback() -> None:
    sim = Sim(update(), healthy=lambda i, v: not (v == NEW and i == 2))
    sim.feed(Tick())
    sim.step()
    assert sim.state.status == "rolling_back"
    sim.feed(Pause())
    assert sim.state.status == "roll_back_paused"
    sim.feed(Resume())
    sim.run()
    assert sim.state.status == "rolled_back"


def test_abort_stops_where_it_is() -> None:
    sim = Sim(update())
    sim.feed(Tick())
    effects = sim.feed(Abort())
    assert sim.state.status == "aborted"
    assert effects == [Finished("aborted", NEW)]
    for _ in range(20):
        sim.step()
    assert sim.order == [(0, NEW), (1, NEW), (2, NEW)]


def test_commands_refused_in_the_wrong_state() -> None:
    sim = Sim(update())
    with pytest.raises(CommandRefused, match="not paused"):
        sim.feed(Resume())
    sim.feed(Pause())
    with pytest.raises(CommandRefused, match="already paused"):
        sim.feed(Pause())
    sim.feed(Abort())
    with pytest.raises(CommandRefused, match="has ended"):
        sim.feed(Resume())


def test_the_state_survives_an_encode_and_decode_mid_update() -> None:
    sim = Sim(update(), healthy=lambda i, v: not (v == NEW and i == 5))
    sim.feed(Tick())
    for _ in range(15):
        sim.step()
    saved = msgspec.json.encode(sim.state)
    sim.state = msgspec.json.decode(saved, type=UpdateState)  # the front end restarted
    sim.run()
    assert sim.state.status == "rolled_back"
    assert sim.order[-6:] == [(i, OLD) for i in (5, 4, 3, 2, 1, 0)]


def test_a_restart_of_the_front_end_restarts_watches_and_timeouts() -> None:
    from corral.frameworks.aurora.update import Recovered

    sim = Sim(update(n=1, batch_size=1))
    sim.feed(Tick())
    sim.now = 1
    sim.feed(Observed(0, NEW, "t0-1", healthy=True))
    sim.now = 500  # down for a long time: neither a finished watch nor a timeout
    sim.feed(Recovered())
    sim.feed(Tick())
    assert sim.state.status == "rolling_forward"
    assert sim.state.instances[0].phase == "updating"
    sim.now = 501
    sim.feed(Observed(0, NEW, "t0-1", healthy=True))
    sim.now = 511
    sim.feed(Tick())
    assert sim.state.status == "rolled_forward"
