"""``corral batch``: the batch queue (Torque's role). ``serve`` runs the framework; ``submit``,
``queue``, ``show`` and ``cancel`` talk to its API. Exit codes: 0, 1 runtime, 2 usage."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import EXIT_RUNTIME, fail, framework_url, resolve_master, setup_logging
from corral.cli.framework_flags import check_master, state_at

app = typer.Typer(help="The batch queue: job arrays with priorities (Torque's role).")
DEFAULT_PORT = 5090

UrlOpt = typer.Option(
    None,
    "--url",
    help="The batch framework's API (default: $CORRAL_BATCH_URL, else the one `corral up` "
    f"started, else http://127.0.0.1:{DEFAULT_PORT}).",
)


def batch_url(flag: str | None) -> str:
    url = framework_url(flag, "CORRAL_BATCH_URL", "batch", f"http://127.0.0.1:{DEFAULT_PORT}")
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    """One API call; a clear message and exit 1 (2 for a refused request) on failure."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            message = json.loads(text)["message"]
        except (ValueError, KeyError, TypeError):
            message = text.strip()
        fail(message, 2 if exc.code in (400, 422) else EXIT_RUNTIME)
    except (urllib.error.URLError, OSError) as exc:
        fail(
            f"cannot reach the batch framework at {url}: {getattr(exc, 'reason', exc)} "
            "(is it running? `corral up` starts it; see --url)",
            EXIT_RUNTIME,
        )


@app.command(context_settings={"allow_interspersed_args": False})
def submit(
    command: list[str] = typer.Argument(..., help="The command (after --)."),
    name: str = typer.Option("", "--name", help="The job's name."),
    array: str | None = typer.Option(
        None,
        "--array",
        "-t",
        help="A job array: indices 1-100, 1,3,5-7, and %P for at most P running at once (1-100%5).",
    ),
    priority: int = typer.Option(0, "--priority", "-p", help="Higher runs first."),
    cpus: float = typer.Option(1.0, "--cpus", help="CPUs per element."),
    mem: float = typer.Option(128.0, "--mem", help="Memory per element, MB."),
    tier: str = typer.Option(
        "preemptible", "--tier", help="preemptible (the default) or preferred."
    ),
    retries: int = typer.Option(0, "--retries", help="Launches again after a failure."),
    env: list[str] = typer.Option([], "--env", help="KEY=VALUE (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the job as JSON."),
    url: str | None = UrlOpt,
) -> None:
    """Queue a job, or a job array (each element gets $CORRAL_ARRAY_INDEX and
    $CORRAL_JOB_ID); prints the job id."""
    from corral.frameworks.batch.arrays import parse_array
    from corral.frameworks.batch.framework import command_line
    from corral.frameworks.batch.model import TIERS

    if array is not None:
        try:
            parse_array(array)
        except ValueError as exc:
            fail(f"--array {array!r}: {exc}")
    if tier not in TIERS:
        fail(f"--tier: {tier!r} is not a tier (one of {', '.join(TIERS)})")
    if cpus <= 0:
        fail("--cpus must be above 0")
    if mem <= 0:
        fail("--mem must be above 0")
    if retries < 0:
        fail("--retries must be at least 0")
    variables = {}
    for item in env:
        key, eq, value = item.partition("=")
        if not eq or not key:
            fail(f"--env: expected KEY=VALUE, got {item!r}")
        variables[key] = value
    body = {
        "command": command_line(command),
        "name": name,
        "array": array,
        "priority": priority,
        "cpus": cpus,
        "mem": mem,
        "tier": tier,
        "retries": retries,
        "env": variables,
    }
    job = call(batch_url(url) + "/v1/jobs", "POST", body)
    if as_json:
        typer.echo(json.dumps(job))
    else:
        typer.echo(job["id"])


def _ago(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(t))


@app.command()
def queue(
    as_json: bool = typer.Option(False, "--json", help="The queue as JSON."),
    url: str | None = UrlOpt,
) -> None:
    """The queue, highest priority first, with each array's progress."""
    jobs = call(batch_url(url) + "/v1/jobs")["jobs"]
    if as_json:
        typer.echo(json.dumps(jobs))
        return
    table = Table(box=None, pad_edge=False)
    for col in ("JOB", "NAME", "STATE", "PRIO", "ARRAY", "QUEUED", "RUNNING", "DONE", "FAILED",
                "SUBMITTED"):  # fmt: skip
        table.add_column(col)
    for j in jobs:
        table.add_row(
            j["id"], j["name"] or "-", j["state"], str(j["priority"]), j.get("array") or "-",
            str(j["queued"]), str(j["running"]), str(j["done"]), str(j["failed"]),
            _ago(j["submitted_at"]),
        )  # fmt: skip
    Console(highlight=False).print(table)


@app.command()
def show(
    job_id: str = typer.Argument(..., help="The job's id."),
    as_json: bool = typer.Option(False, "--json", help="The job as JSON."),
    url: str | None = UrlOpt,
) -> None:
    """A job and its elements: state, exit code, agent and sandbox of each."""
    job = call(batch_url(url) + f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}")
    if as_json:
        typer.echo(json.dumps(job))
        return
    out = Console(highlight=False)
    out.print(
        f"job {job['id']} {job['name'] or ''}  {job['state']}  priority {job['priority']}  "
        f"tier {job['tier']}  {job['cpus']:g} cpus, {job['mem']:g} MB"
    )
    out.print(f"  command: {job['command']}")
    if job.get("array"):
        out.print(f"  array: {job['array']}")
    out.print(
        f"  queued {job['queued']}, running {job['running']}, done {job['done']}, failed "
        f"{job['failed']}, cancelled {job['cancelled']}"
    )
    table = Table(box=None, pad_edge=False)
    for col in ("INDEX", "STATE", "EXIT", "TRIES", "HOST"):
        table.add_column(col)
    table.add_column("TASK", overflow="fold")  # whole ids: they are for copying
    table.add_column("SANDBOX / WAITING", overflow="fold")
    for e in job["element_list"]:
        code = e.get("exit_code")
        table.add_row(
            str(e["index"]), e["state"], "-" if code is None else str(code), str(e["attempts"]),
            e.get("hostname") or "-", e.get("task_id") or "-",
            e.get("waiting") or e.get("sandbox") or "-",
        )  # fmt: skip
    out.print(table)


@app.command()
def cancel(
    job_id: str = typer.Argument(..., help="The job's id."),
    url: str | None = UrlOpt,
) -> None:
    """Cancel a job: its queued elements are dropped, its running ones killed."""
    job = call(batch_url(url) + f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}/cancel", "POST")
    typer.echo(f"job {job['id']}: cancelled ({job['running']} running element(s) being killed)")


@app.command()
def serve(
    master_flag: str | None = typer.Option(
        None,
        "--master",
        help="The corral master: HOST:PORT, or zk://h1:2181,h2:2181/corral (default: "
        "$CORRAL_MASTER, else the cluster `corral up` started, else 127.0.0.1:5050).",
    ),
    ip: str = typer.Option("127.0.0.1", "--ip", help="Address the API listens on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port of the API."),
    work_dir: str = typer.Option(
        "/var/lib/corral/batch",
        "--work-dir",
        help="The framework's store: a directory, or zk://host:port/path shared by instances.",
    ),
    preemption: bool = typer.Option(
        True,
        "--preemption/--no-preemption",
        help="Ask the master to preempt lower-priority tasks for elements that wait.",
    ),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the batch framework: its queue, kept in the store, and its API."""
    from corral.frameworks.batch.daemon import run_batch

    setup_logging(log_level)
    master = resolve_master(master_flag, keep_zk=True)
    check_master(master)
    if not 0 <= port <= 65535:
        fail("--port must be between 0 and 65535")
    state = state_at(work_dir)
    raise typer.Exit(
        asyncio.run(run_batch(master, state, host=ip, port=port, preemption=preemption))
    )


__all__ = ["app", "batch_url"]
