"""Aurora-style job keys and TOML specs: decoding, checks, errors with field and line,
conversions to the services and jobs frameworks, and the quota check."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from corral.frameworks.aurora.quota import QuotaConfig, parse_get_quota, shortfall
from corral.frameworks.aurora.spec import (
    SpecError,
    chronos_job,
    decode_spec,
    line_of,
    load_spec,
    marathon_app,
    parse_key,
    total_resources,
    version_of,
)

GOOD = """\
command = "python3 -m http.server $PORT0"
instances = 3
tier = "preferred"
priority = 10
ports = ["http"]

[resources]
cpus = 0.5
mem = 64

[health_check]
type = "http"
path = "/"
interval_secs = 1

[update]
batch_size = 2
watch_secs = 5
"""


def spec_of(text: str, source: str = "job.toml"):  # type: ignore[no-untyped-def]
    return decode_spec(tomllib.loads(text), text=text, source=source)


def error_of(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        spec_of(text)
    return info.value


def test_a_good_spec_and_its_defaults() -> None:
    spec = spec_of(GOOD)
    assert spec.instances == 3 and spec.resources.cpus == 0.5 and spec.resources.disk == 0
    assert spec.update.batch_size == 2 and spec.update.max_total_failures == 0
    assert spec.health_check is not None and spec.health_check.max_consecutive_failures == 3
    assert spec.max_task_failures == 1
    assert total_resources(spec) == {"cpus": 1.5, "mem": 192.0, "disk": 0.0}


def test_keys() -> None:
    key = parse_key("web/prod-ish/hello".replace("prod-ish", "production"))
    assert (key.role, key.env, key.name) == ("web", "production", "hello")
    assert key.app_id(2) == "/aurora/web/production/hello/2"
    assert key.cron_name == "web.production.hello"
    assert parse_key("a/staging3/b").env == "staging3"
    for bad, words in [
        ("web/prod", "three parts"),
        ("Web/devel/x", "role 'Web'"),
        ("web/prod/x", "env 'prod'"),
        ("web/devel/x_y", "name 'x_y'"),
    ]:
        with pytest.raises(SpecError, match=words):
            parse_key(bad)


@pytest.mark.parametrize(
    ("text", "field", "line", "words"),
    [
        ('instances = 2\n[resources]\ncpus = "lots"\n', "resources.cpus", 3, "expected `float`"),
        ('command = "x"\n[resources]\ncpux = 1\n', "resources.cpux", 3, "unknown field"),
        ('command = "x"\ninstances = 0\n', "instances", 2, "at least 1"),
        ('command = "x"\n\ntier = "gold"\n', "tier", 3, "preferred or preemptible"),
        ("instances = 1\n", "command", None, "a command or an image"),
        ('command = "x"\nmax_task_failures = 0\n', "max_task_failures", 2, "-1 (unlimited)"),
        ('command = "x"\n[update]\nbatch_size = 0\n', "update.batch_size", 3, "at least 1"),
        ('command = "x"\nupdate = { watch_secs = -1 }\n', "update.watch_secs", 2, "negative"),
        ('command = "x"\ncron_schedule = "every day"\n', "cron_schedule", 2, "not a cron line"),
        (
            'command = "x"\n[health_check]\ntype = "command"\n',
            "health_check.command",
            2,
            "needs a command",
        ),
        (
            'command = "x"\n[health_check]\ntype = "ftp"\n',
            "health_check.type",
            3,
            "expected one of",
        ),
        ('command = "x"\nports = ["http", 3]\n', "ports[1]", 2, "expected `str`"),
    ],
)
def test_errors_name_the_field_and_the_line(
    text: str, field: str, line: int | None, words: str
) -> None:
    err = error_of(text)
    assert err.field == field
    assert err.line == line
    assert words in err.message
    assert str(err).startswith(f"job.toml:{line}: {field}: " if line else f"job.toml: {field}: ")


def test_line_of_dotted_and_nested_keys() -> None:
    text = "a = 1\nresources.cpus = 2\n[update]\n  batch_size = 3\n[health_check]\n"
    assert line_of(text, ["resources", "cpus"]) == 2
    assert line_of(text, ["update", "batch_size"]) == 4
    assert line_of(text, ["health_check", "path"]) == 5  # the nearest: its table
    assert line_of(text, ["nothing"]) is None


def test_load_spec_reports_bad_toml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("command = \n")
    with pytest.raises(SpecError, match=r"bad\.toml: not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match=r"nope\.toml"):
        load_spec(tmp_path / "nope.toml")
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    assert load_spec(good).priority == 10


def test_the_services_app_of_an_instance() -> None:
    key = parse_key("web/production/hello")
    spec = spec_of(GOOD)
    app = marathon_app(key, spec, 1, version_of(spec))
    assert app["id"] == "/aurora/web/production/hello/1"
    assert app["instances"] == 1 and app["cpus"] == 0.5 and app["cmd"].startswith("python3")
    assert app["labels"]["corral.tier"] == "preferred"
    assert app["labels"]["corral.priority"] == "10"
    assert app["labels"]["corral.aurora.version"] == version_of(spec)
    assert app["healthChecks"][0]["protocol"] == "HTTP"
    assert app["healthChecks"][0]["intervalSeconds"] == 1
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0}
    # the tier defaults by environment, as in Aurora
    plain = spec_of('command = "x"\n')
    assert (
        marathon_app(parse_key("w/devel/x"), plain, 0, "v")["labels"]["corral.tier"]
        == "preemptible"
    )
    assert (
        marathon_app(parse_key("w/production/x"), plain, 0, "v")["labels"]["corral.tier"]
        == "preferred"
    )
    docker = marathon_app(key, spec_of('image = "busybox"\n'), 0, "v")
    assert docker["container"]["docker"]["image"] == "busybox" and "cmd" not in docker


def test_versions_follow_the_content() -> None:
    a, b = spec_of(GOOD), spec_of(GOOD.replace("priority = 10", "priority = 11"))
    assert version_of(a) == version_of(spec_of(GOOD)) != version_of(b)


def test_the_jobs_framework_job_of_a_cron_job() -> None:
    spec = spec_of('command = "backup"\ncron_schedule = "0 2 * * *"\nmax_task_failures = 3\n')
    job = chronos_job(parse_key("ops/production/backup"), spec)
    assert job["name"] == "ops.production.backup"
    assert job["schedule"] == "0 2 * * *" and job["retries"] == 2
    with pytest.raises(SpecError, match="one instance"):
        spec_of('command = "x"\ncron_schedule = "0 2 * * *"\ninstances = 2\n')


def test_quota_shortfall() -> None:
    body = {
        "type": "GET_QUOTA",
        "get_quota": {
            "status": {
                "configs": [
                    {
                        "role": "web",
                        "guarantees": {"cpus": {"value": 2}},
                        "limits": {"cpus": {"value": 4}, "mem": {"value": 1024}},
                    }
                ]
            }
        },
    }
    quotas = parse_get_quota(body)
    web = quotas["web"]
    assert web == QuotaConfig("web", {"cpus": 2.0}, {"cpus": 4.0, "mem": 1024.0})
    assert shortfall("web", {"cpus": 2}, {"cpus": 2}, web) is None
    assert (
        shortfall("web", {"cpus": 10, "mem": 100}, {"cpus": 2}, web)
        == "role web: needs 8 cpus more than its quota"
    )
    assert shortfall("web", {"cpus": 5, "mem": 2048}, {}, web) == (
        "role web: needs 1 cpus and 1024 MiB of mem more than its quota"
    )
    assert shortfall("db", {"cpus": 100}, {}, quotas.get("db")) is None
    assert parse_get_quota({"unexpected": 1}) == {}
