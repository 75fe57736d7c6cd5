"""`corral app`'s pure parts: reading the API's errors and concluding a followed deployment."""

from __future__ import annotations

import json

from corral.cli.app_api import error_from_body
from corral.cli.app_watch import observe, queue_lines, ready_count

V1, V2 = "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:00.000Z"


def app(
    version: str = V2,
    instances: int = 2,
    tasks: list[dict[str, object]] | None = None,
    checks: bool = False,
    config: str | None = None,
) -> dict[str, object]:
    return {
        "id": "/web",
        "version": version,
        "versionInfo": {"lastScalingAt": version, "lastConfigChangeAt": config or version},
        "instances": instances,
        "healthChecks": [{"protocol": "COMMAND"}] if checks else [],
        "tasks": tasks or [],
        "deployments": [],
    }


def task(
    version: str = V2, state: str = "TASK_RUNNING", alive: bool | None = None
) -> dict[str, object]:
    t: dict[str, object] = {"id": "web.1", "state": state, "version": version}
    if alive is not None:
        t["healthCheckResults"] = [
            {"alive": alive, "lastFailureCause": None if alive else "exit 1"}
        ]
    return t


def test_422_details_and_409_deployments_are_read() -> None:
    e = error_from_body(
        422,
        json.dumps(
            {
                "message": "Object is not valid",
                "details": [{"path": "/cpus", "errors": ["must be a number"]}],
            }
        ).encode(),
        "u",
    )
    assert (e.status, e.message, e.details) == (
        422,
        "Object is not valid",
        [("/cpus", ["must be a number"])],
    )
    e = error_from_body(409, b'{"message":"App is locked","deployments":[{"id":"d1"}]}', "u")
    assert e.deployments == ["d1"]
    assert (
        error_from_body(502, b"<html>bad gateway</html>", "u").message == "<html>bad gateway</html>"
    )


def test_running_deployment_reports_its_step_and_waiting_reason() -> None:
    dep = {
        "id": "d1",
        "currentStep": 1,
        "totalSteps": 2,
        "waiting": "no offers",
        "currentActions": [{"action": "StartApplication", "app": "/web"}],
    }
    obs = observe("d1", [dep], app(tasks=[task()]), version=V2)
    assert not obs.done
    assert (obs.progress.ready, obs.progress.target, obs.progress.waiting) == (1, 2, "no offers")
    assert obs.progress.describe() == "step 1/2: StartApplication /web"


def test_a_finished_deployment_succeeds_only_at_its_version_with_enough_ready() -> None:
    assert observe("d1", [], app(tasks=[task(), task()]), version=V2).ok
    rolled = observe("d1", [], app(version=V1, tasks=[task(V1), task(V1)]), version=V2)
    assert rolled.done and not rolled.ok and "rolled back" in rolled.message
    short = observe("d1", [], app(tasks=[task()]), version=V2)
    assert short.done and not short.ok and "1/2" in short.message
    assert not observe("d1", [], None, version=V2).ok


def test_delete_succeeds_when_the_app_is_gone() -> None:
    assert observe("d1", [], None, version=None, delete=True).ok
    assert not observe("d1", [], app(), version=None, delete=True).ok


def test_ready_counts_health_and_keeps_scaled_instances_of_the_same_config() -> None:
    a = app(checks=True, tasks=[task(alive=True), task(alive=False), task(state="TASK_STAGING")])
    assert ready_count(a) == 1
    # a scale stamps a new version but keeps the instances of the config before it
    scaled = app(version=V2, config=V1, tasks=[task(V1), task(V2)])
    assert ready_count(scaled) == 2
    restarted = app(version=V2, config=V2, tasks=[task(V1), task(V2)])
    assert ready_count(restarted) == 1


def test_queue_lines_name_delay_and_reason() -> None:
    q = [
        {
            "app": {"id": "/web"},
            "count": 2,
            "since": V1,
            "delay": {"timeLeftSeconds": 12},
            "processedOffersSummary": {
                "rejectSummaryLastOffers": [{"reason": "constraint UNIQUE"}]
            },
        },
        {"app": {"id": "/other"}, "count": 1},
    ]
    (line,) = queue_lines(q, "/web")
    assert "2 instance(s)" in line and "12 s" in line and "constraint UNIQUE" in line
