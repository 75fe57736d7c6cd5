"""`corral agent` is both the daemon (flags, no subcommand) and the operator's commands
(`drain`, `deactivate`, …): the daemon's flags keep their types through the group."""

from __future__ import annotations

from typer.testing import CliRunner
from typer.utils import get_params_from_function

from corral.cli import maintenance_command
from corral.cli.main import app


def test_the_daemons_flags_keep_their_types() -> None:
    params = get_params_from_function(maintenance_command.agent_callback)
    assert params["port"].annotation is int
    assert params["status_update_retry"].annotation is float
    assert params["enforce_container_disk_quota"].annotation is bool


def test_bad_flag_values_and_subcommands_are_named() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["agent", "--status-update-retry", "soon"])
    assert r.exit_code == 2 and "--status-update-retry" in r.output
    r = runner.invoke(app, ["agent", "drain", "--help"])
    assert r.exit_code == 0 and "--max-grace" in r.output and "--mark-gone" in r.output
