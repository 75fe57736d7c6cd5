"""The spark framework's scaling rules (pure): Spark master JSON + our workers + now in,
launch/kill effects out."""

from __future__ import annotations

from dataclasses import replace

from corral.frameworks.spark.scaling import (
    PENDING,
    REGISTERED,
    REMOVING,
    STARTING,
    Kill,
    Launch,
    ScaleConfig,
    Worker,
    step,
)
from corral.frameworks.spark.view import MasterView, SparkApp, SparkWorker, parse_view

URL = "spark://h:7077"
CFG = ScaleConfig(min_workers=0, max_workers=2, idle_timeout=30, register_timeout=60,
                  worker_memory=640)  # fmt: skip


def view(
    apps: list[SparkApp] | None = None, workers: list[SparkWorker] | None = None
) -> MasterView:
    return MasterView(url=URL, status="ALIVE", activeapps=apps or [], workers=workers or [])


def waiting(name: str = "wc", mem: int = 512) -> SparkApp:
    return SparkApp(id=f"app-{name}", name=name, state="WAITING", memoryperexecutor=mem)


def running(name: str = "wc") -> SparkApp:
    return SparkApp(id=f"app-{name}", name=name, state="RUNNING", cores=1, memoryperexecutor=512)


def sw(port: int, used: int = 0, state: str = "ALIVE") -> SparkWorker:
    return SparkWorker(
        host="h", port=port, state=state, cores=1, coresused=used, coresfree=1 - used
    )


def ours(name: str, port: int | None, state: str = STARTING, at: float = 0.0) -> Worker:
    return Worker(name=name, created_at=at, state=state, host="h", port=port, master_url=URL,
                  launched_at=at if port else None)  # fmt: skip


def launches(effects: tuple[object, ...]) -> list[Launch]:
    return [e for e in effects if isinstance(e, Launch)]


def kills(effects: tuple[object, ...]) -> list[Kill]:
    return [e for e in effects if isinstance(e, Kill)]


def test_nothing_without_a_live_spark_master() -> None:
    assert step(None, [], 0, CFG).effects == ()
    standby = MasterView(url=URL, status="STANDBY", activeapps=[waiting()])
    assert step(standby, [], 0, CFG).effects == ()


def test_a_waiting_app_gets_one_worker_and_coming_ones_count() -> None:
    got = step(view([waiting()]), [], 10, CFG)
    assert len(launches(got.effects)) == 1 and "wc" in launches(got.effects)[0].reason
    assert got.demand == 1
    # Next round: the worker is pending (or starting): no second one for the same app.
    for state in (PENDING, STARTING):
        again = step(view([waiting()]), [ours("w1", 31000 if state == STARTING else None, state)],
                     11, CFG)  # fmt: skip
        assert again.effects == ()


def test_growth_stops_at_the_maximum_and_says_so() -> None:
    apps = [waiting("a"), waiting("b"), waiting("c")]
    got = step(view(apps), [], 0, CFG)
    assert len(launches(got.effects)) == 2  # max_workers
    assert any("maximum of 2" in w for w in got.waiting)
    full = step(view(apps), [ours("w1", 1), ours("w2", 2)], 1, CFG)
    assert launches(full.effects) == []


def test_an_app_bigger_than_a_worker_is_said_not_served() -> None:
    got = step(view([waiting("big", mem=4096)]), [], 0, CFG)
    assert got.effects == ()
    assert any("4096 MB" in w and "--worker-mem" in w for w in got.waiting)


def test_registration_busy_and_idle_removal() -> None:
    w = ours("w1", 31000)
    busy = step(view([running()], [sw(31000, used=1)]), [w], 5, CFG)
    (b,) = busy.workers
    assert b.state == REGISTERED and b.registered_at == 5 and b.idle_since is None
    # The app ended: idle since 20; kept until the idle-timeout is over.
    idle = step(view([], [sw(31000)]), [b], 20, CFG)
    (i,) = idle.workers
    assert i.idle_since == 20 and idle.effects == ()
    assert step(view([], [sw(31000)]), [i], 49, CFG).effects == ()
    gone = step(view([], [sw(31000)]), [i], 50, CFG)
    assert kills(gone.effects) == [Kill("w1", "idle for 30 s (idle-timeout 30 s)")]
    assert gone.workers[0].state == REMOVING
    # Busy again before the timeout: the clock restarts.
    again = step(view([running()], [sw(31000, used=1)]), [i], 40, CFG)
    assert again.workers[0].idle_since is None


def test_an_idle_worker_stays_while_work_waits_or_for_the_minimum() -> None:
    idle = replace(ours("w1", 31000), state=REGISTERED, registered_at=0, idle_since=0)
    apps = [waiting("x")]
    got = step(view(apps, [sw(31000)]), [idle, ours("w2", 32000, at=90)], 100, CFG)
    assert kills(got.effects) == []
    keep_one = replace(CFG, min_workers=1)
    got = step(view([], [sw(31000)]), [idle], 100, keep_one)
    assert got.effects == ()


def test_the_minimum_is_kept_without_demand() -> None:
    got = step(view(), [], 0, replace(CFG, min_workers=2))
    assert [e.reason for e in launches(got.effects)] == ["keeps its minimum of 2 workers"] * 2


def test_a_worker_that_never_registers_or_points_elsewhere_is_removed() -> None:
    late = ours("w1", 31000, at=0)
    assert step(view(), [late], 59, CFG).effects == ()
    got = step(view(), [late], 60, CFG)
    assert kills(got.effects)[0].reason.startswith("not registered with the Spark master")
    moved = replace(ours("w2", 31001), master_url="spark://old:1")
    got = step(view(), [moved], 1, CFG)
    assert kills(got.effects)[0].name == "w2" and "spark://old:1" in kills(got.effects)[0].reason


def test_a_dead_registration_is_not_a_live_worker() -> None:
    got = step(view([], [sw(31000, state="DEAD")]), [ours("w1", 31000)], 1, CFG)
    assert got.workers[0].state == STARTING


def test_removing_workers_count_against_the_maximum() -> None:
    going = replace(ours("w1", 1), state=REMOVING)
    got = step(view([waiting("a"), waiting("b")]), [going], 0, CFG)
    assert len(launches(got.effects)) == 1


def test_the_config_names_bad_settings() -> None:
    assert ScaleConfig(min_workers=-1).problems()[0].startswith("min-workers")
    assert any(
        p.startswith("max-workers") for p in ScaleConfig(min_workers=3, max_workers=2).problems()
    )
    assert ScaleConfig(idle_timeout=-1).problems()[0].startswith("idle-timeout")


def test_the_spark_masters_json_is_read_and_unknown_fields_ignored() -> None:
    body = b"""{"url":"spark://127.0.0.1:7077","status":"ALIVE","aliveworkers":1,
      "workers":[{"id":"worker-1","host":"127.0.0.1","port":35069,"cores":1,"coresused":1,
                  "coresfree":0,"memory":1024,"memoryfree":512,"state":"ALIVE",
                  "resources":{},"lastheartbeat":1}],
      "activeapps":[{"id":"app-1","name":"wc","cores":0,"memoryperexecutor":512,
                     "state":"WAITING","submitdate":"Thu","duration":9}],
      "completedapps":[],"resources":[]}"""
    v = parse_view(body)
    assert v.alive and v.alive_worker("127.0.0.1", 35069) is not None
    assert v.activeapps[0].waiting and v.activeapps[0].memoryperexecutor == 512
    assert parse_view(b"{}").workers == []


def test_a_worker_not_launched_yet_is_dropped_once_nothing_waits() -> None:
    pending = Worker(name="w1", created_at=0)
    assert step(view([waiting()]), [pending], 1, CFG).effects == ()
    got = step(view(), [pending], 2, CFG)
    assert kills(got.effects) == [Kill("w1", "no application waits any more")]
    assert step(view(), [pending], 2, replace(CFG, min_workers=1)).effects == ()
