"""The ci framework's template file: read, defaults, and errors naming the line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.frameworks.ci.templates import ConfigError, load_config, read_config

GOOD = """\
name = "ci"

[[template]]
name = "small"
labels = ["linux"]
command = "run-agent"

[[template]]
name = "docker"
labels = ["linux", "docker"]
cpus = 2
mem = 2048
executors = 2
container = "DOCKER"
image = "buildbot/buildbot-worker:latest"
min = 1
max = 3
provision-delay = 0
idle-termination = 30
constraints = ["rack:LIKE:a.*"]
env = { FOO = "bar" }
command = "start"
"""


def test_a_good_file_with_defaults() -> None:
    cfg = load_config(GOOD)
    small, docker = cfg.templates
    assert small.labels == ("linux",) and small.executors == 1 and small.container == "MESOS"
    assert small.provision_delay == 120 and small.idle_termination == 180
    assert docker.cpus == 2.0 and docker.executors == 2 and docker.image
    assert (docker.min, docker.max, docker.provision_delay) == (1, 3, 0.0)
    assert docker.env == {"FOO": "bar"} and cfg.on_demand
    assert docker.serves(frozenset({"docker"})) and not small.serves(frozenset({"docker"}))


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(text, "t.toml")
    return str(info.value)


def test_a_semantic_error_names_the_line_and_field() -> None:
    bad = GOOD.replace("max = 3", "max = 0")
    assert error(bad) == 't.toml:17: template "docker": max: must be at least 1, not 0'
    bad = GOOD.replace("min = 1", "min = 5")
    assert error(bad).startswith('t.toml:17: template "docker": max: must be at least min (5)')
    bad = GOOD.replace(
        'container = "DOCKER"\nimage = "buildbot/buildbot-worker:latest"\n',
        'container = "DOCKER"\n',
    )
    assert error(bad).startswith('t.toml:14: template "docker": container: DOCKER needs an image')
    assert error(GOOD.replace("cpus = 2", 'cpus = "two"')).startswith(
        't.toml:11: template "docker": cpus: must be a number'
    )
    assert error(GOOD.replace("executors = 2", "executers = 2")).startswith(
        't.toml:13: template "docker": executers: unknown field'
    )
    assert "t.toml:20: " in error(GOOD.replace("rack:LIKE:a.*", "rack:MAX_PER:zero"))


def test_a_missing_field_names_the_template_table() -> None:
    bad = GOOD.replace('command = "run-agent"\n', "")
    assert error(bad) == 't.toml:3: template "small": command is required'
    assert error(GOOD.replace('name = "docker"', 'name = "small"')).startswith(
        "t.toml:9: template \"small\": name: 'small' is used by an earlier template"
    )
    assert error(GOOD.replace('name = "docker"', 'name = "Bad_Name"')).startswith(
        "t.toml:9: template #2: name: 'Bad_Name'"
    )


def test_syntax_errors_keep_tomllib_line_and_no_templates_is_an_error(tmp_path: Path) -> None:
    msg = error(GOOD.replace("cpus = 2", "cpus = = 2"))
    assert msg.startswith("t.toml: ") and "line 11" in msg
    assert "no [[template]] tables" in error('name = "ci"\n')
    assert error('nmae = "ci"\n[[template]]\nname="a"\ncommand="x"\n').startswith(
        "t.toml:1: top level: nmae: unknown setting"
    )
    with pytest.raises(ConfigError, match="cannot read it"):
        read_config(tmp_path / "missing.toml")
