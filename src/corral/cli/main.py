"""The ``corral`` command."""

from __future__ import annotations

import typer

from corral.cli import app_command, client, daemons, run_command, services_command

app = typer.Typer(
    name="corral",
    help="corral: a cluster resource manager (Mesos-compatible).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(daemons.master)
app.command()(daemons.agent)
app.command()(daemons.up)
app.command(context_settings={"allow_interspersed_args": False})(run_command.run)
app.command()(client.agents)
app.command()(client.tasks)
app.command()(client.frameworks)
app.command()(client.logs)
app.command()(services_command.services)
app.add_typer(app_command.app, name="app")


def main() -> None:
    app()
