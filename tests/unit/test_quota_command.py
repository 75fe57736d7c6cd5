"""`corral quota` and `corral weights`: bad usage exits 2 naming the flag, before any call;
an unreachable master exits 1. (Against a real master: tests/integration/test_quota.py.)"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from corral.cli.main import app
from corral.testing import free_port


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["quota", "set", "dev"], "--cpus"),
        (["quota", "set", "dev", "--mem", "-5"], "--mem"),
        (["quota", "set", "dev", "--cpus", "4", "--limit-cpus", "2"], "--limit-cpus"),
        (["quota", "set", "dev", "--limit-gpus", "nan"], "--limit-gpus"),
        (["weights", "set", "dev"], "ROLE=WEIGHT"),
        (["weights", "set", "dev=0"], "ROLE=WEIGHT"),
        (["weights", "set", "=2"], "ROLE=WEIGHT"),
    ],
)
def test_bad_usage_exits_2_naming_the_flag(args: list[str], names: str) -> None:
    result = CliRunner().invoke(app, [*args, "--master", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 2, result.output
    assert names in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["quota", "show"],
        ["quota", "set", "dev", "--cpus", "1"],
        ["quota", "remove", "dev"],
        ["weights", "show"],
        ["weights", "set", "dev=2"],
    ],
)
def test_no_master_exits_1(args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--master", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 1, result.output
    assert "cannot reach the master" in result.output
