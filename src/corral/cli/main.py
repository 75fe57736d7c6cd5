"""The ``corral`` command."""

from __future__ import annotations

import typer

from corral.cli import (
    app_command,
    aurora_command,
    aurora_jobs,
    batch_command,
    ci_command,
    client,
    daemons,
    deploy_command,
    events,
    job_command,
    jobs_command,
    kill_command,
    maintenance_command,
    preemptions_command,
    quota_command,
    run_command,
    schedule_command,
    services_command,
    spark_command,
    status_command,
    up_command,
    up_control,
)

app = typer.Typer(
    name="corral",
    help="corral: a cluster resource manager (Mesos-compatible).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.command()(daemons.master)
app.add_typer(maintenance_command.app, name="agent")
app.command()(maintenance_command.teardown)
app.add_typer(quota_command.quota_app, name="quota")
app.add_typer(quota_command.weights_app, name="weights")
app.command()(kill_command.kill)
app.add_typer(schedule_command.app, name="maintenance")
app.command()(preemptions_command.preemptions)
app.command()(up_command.up)
app.command()(up_control.down)
app.command()(status_command.status)
app.command()(status_command.version)
app.command()(deploy_command.deploy)
app.command()(deploy_command.upgrade)
app.command()(deploy_command.supervise)
app.command(context_settings={"allow_interspersed_args": False})(run_command.run)
app.command()(client.agents)
app.command()(client.tasks)
app.command()(client.frameworks)
app.command()(events.events)
app.command()(client.logs)
app.command()(ci_command.ci)
app.command()(jobs_command.jobs)
aurora_jobs.register(job_command.app)  # create, status, killall, update: Aurora-style
app.add_typer(job_command.app, name="job")
app.command()(aurora_command.aurora)
app.command()(services_command.services)
app.command()(spark_command.spark)
app.add_typer(app_command.app, name="app")
app.add_typer(batch_command.app, name="batch")


def main() -> None:
    import sys

    from corral.cli.component_logs import normalize_argv

    app(args=normalize_argv(sys.argv[1:]))
