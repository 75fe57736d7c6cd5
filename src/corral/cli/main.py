"""The ``corral`` command."""

from __future__ import annotations

import typer

from corral.cli import (
    app_command,
    ci_command,
    client,
    daemons,
    events,
    job_command,
    jobs_command,
    run_command,
    services_command,
)

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
app.command()(events.events)
app.command()(client.logs)
app.command()(ci_command.ci)
app.command()(jobs_command.jobs)
app.add_typer(job_command.app, name="job")
app.command()(services_command.services)
app.add_typer(app_command.app, name="app")


def main() -> None:
    import sys

    from corral.cli.component_logs import normalize_argv

    app(args=normalize_argv(sys.argv[1:]))
