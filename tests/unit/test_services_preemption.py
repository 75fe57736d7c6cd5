"""The services framework and preemption: the labels corral.tier / corral.priority of an app
become its tasks' tier and priority (checked, a bad one named at its path), and an inverse
offer taking an instance back kills it and the app launches it again as capacity returns."""

from __future__ import annotations

import pytest
from test_services_core import settle, started, web

from corral.frameworks.services.codec import Invalid, parse_app
from corral.frameworks.services.taskinfo import task_spec


def test_labels_give_the_tier_and_priority() -> None:
    app = parse_app({"id": "/hi", "cmd": "x", "labels": {"corral.priority": "10"}})
    spec = task_spec(app)
    assert (spec.tier, spec.priority) == ("preferred", 10)
    low = parse_app({"id": "/lo", "cmd": "x", "labels": {"corral.tier": "preemptible"}})
    assert (task_spec(low).tier, task_spec(low).priority) == ("preemptible", 0)


def test_bad_labels_are_refused_naming_them() -> None:
    with pytest.raises(Invalid) as err:
        parse_app({"id": "/x", "cmd": "x", "labels": {"corral.priority": "high"}})
    assert any(d.path == "/labels/corral.priority" for d in err.value.details)
    assert "is not a whole number" in str(err.value.details)
    with pytest.raises(Invalid) as err:
        parse_app({"id": "/x", "cmd": "x", "labels": {"corral.tier": "gold"}})
    assert any(d.path == "/labels/corral.tier" for d in err.value.details)


async def test_a_preempted_instance_is_killed_and_launched_again() -> None:
    svc, fake, _clock = await started(agents=1)
    await svc.put_apps([web(2)])
    await settle(svc, fake)
    first = fake.running()
    assert len(first) == 2
    await fake.preempt(first[0], reason="task preempted for framework x's task hi")
    await svc.flush()
    assert fake.killed == [first[0]]
    assert fake.calls_of("ACCEPT_INVERSE_OFFERS")
    await settle(svc, fake)
    now = fake.running()
    assert len(now) == 2 and first[0] not in now and first[1] in now
    app = svc.app("/web")
    assert app is not None and app.running == 2
