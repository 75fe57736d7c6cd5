"""``corral job …``: the jobs framework's client (add, list, show, run, rm, history).

It speaks only the framework's REST API (Chronos's ``/v1/scheduler`` family plus corral's
additions, see docs/jobs.md) at ``--url`` (default ``$CORRAL_JOBS_URL`` or
``http://127.0.0.1:4400``). Exit codes: 0 done; 1 the API refused (its message is printed);
2 bad usage (a flag or a job file); 69 the API cannot be reached.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import framework_url
from corral.frameworks.jobs.model import JobError, decode_job, load_job_file
from corral.security.client import ClientSecurity

DEFAULT_URL = "http://127.0.0.1:4400"
PREFIX = "/v1/scheduler"
EXIT_API = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 69

app = typer.Typer(
    name="job",
    help="Scheduled jobs with dependencies (add, list, show, run, rm, history: talk to a running "
    "`corral jobs`), and Aurora-style jobs role/env/name (create, status, killall, update: talk "
    "to a running `corral aurora`).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(width=None if sys.stdout.isatty() else 200)

UrlOpt = typer.Option(
    None,
    "--url",
    help=(
        f"Base URL of the jobs API (default: $CORRAL_JOBS_URL, the `corral up` cluster's, "
        f"or {DEFAULT_URL})."
    ),
)
JsonOpt = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")


# ====================================================================== HTTP
def fail(message: str, code: int = EXIT_API) -> NoReturn:
    typer.echo(f"corral job: {message}", err=True)
    raise typer.Exit(code)


def base_url(flag: str | None) -> str:
    url = framework_url(flag, "CORRAL_JOBS_URL", "jobs", DEFAULT_URL).strip().rstrip("/")
    where = "--url" if flag else ("$CORRAL_JOBS_URL" if os.environ.get("CORRAL_JOBS_URL") else "")
    if "://" not in url:
        url = "http://" + url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        fail(f"{where or '--url'}: {url!r} is not an http:// URL", EXIT_USAGE)
    return url


def api_message(status: int, body: bytes) -> str:
    """The API's own words: ``message`` (plus ``details``) of a JSON error, else the text."""
    text = body.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or f"HTTP {status}"
    if isinstance(data, dict) and data.get("message"):
        message = str(data["message"])
        details = data.get("details")
        if isinstance(details, list) and details:
            parts = []
            for d in details:
                if isinstance(d, dict):
                    errs = d.get("errors") or [d.get("message", "")]
                    parts.append(f"{d.get('path', '')} {', '.join(map(str, errs))}".strip())
            if parts:
                message += ": " + "; ".join(parts)
        return message
    return text


def request(method: str, url: str, path: str, body: Any = None) -> Any:
    """One call to the API; the decoded JSON (or text, or None for an empty body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    for k, v in ClientSecurity.from_env().headers().items():  # CORRAL_PRINCIPAL/SECRET
        req.add_header(k, v)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        fail(f"{method} {path}: {exc.code} {api_message(exc.code, exc.read())}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(
            f"cannot reach the jobs API at {url}: {reason} "
            "(is `corral jobs` running? see --url or $CORRAL_JOBS_URL)",
            EXIT_UNREACHABLE,
        )
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


# ====================================================================== job files
def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def load_jobs(path: Path) -> list[dict[str, Any]]:
    """The jobs of a job file, parents first. One job: a JSON object, or a TOML document of
    the job's fields (or a ``[job]`` table), read by the framework's ``load_job_file``.
    Several: a JSON array, or TOML ``[[jobs]]`` tables. Fields are the API's job JSON;
    TOML keys may also be snake_case (``schedule_time_zone``)."""
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"job file {path}: {exc.strerror or exc}", EXIT_USAGE)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        fail(f"job file {path}: name it *.json or *.toml", EXIT_USAGE)
    try:
        data: Any = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if suffix == ".json" else "TOML"
        fail(f"job file {path}: not valid {kind}: {exc}", EXIT_USAGE)
    many = isinstance(data, list) or (
        isinstance(data, dict) and set(data) == {"jobs"} and isinstance(data["jobs"], list)
    )
    if not many:
        try:
            return [load_job_file(path)]
        except JobError as exc:
            fail(f"job file {exc}", EXIT_USAGE)
    items = data if isinstance(data, list) else data["jobs"]
    if not items:
        fail(f"job file {path}: no jobs in it", EXIT_USAGE)
    jobs = []
    for i, item in enumerate(items):
        where = f"job file {path}, job {i + 1}"
        if not isinstance(item, dict):
            fail(f"{where}: a job is a table of fields, not {type(item).__name__}", EXIT_USAGE)
        job = {camel(k): v for k, v in item.items()}
        try:
            decode_job(job)
        except JobError as exc:
            fail(f"{where}: {exc}", EXIT_USAGE)
        jobs.append(job)
    return order_parents_first(jobs)


def order_parents_first(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Jobs in an order where each comes after those of its parents defined in the same file
    (a cycle is left to the API to refuse, in file order)."""
    by_name = {j["name"]: j for j in jobs}
    out: list[dict[str, Any]] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(job: dict[str, Any]) -> None:
        name = job["name"]
        if name in done or name in visiting:
            return
        visiting.add(name)
        for parent in job.get("parents") or []:
            if isinstance(parent, str) and parent in by_name:
                visit(by_name[parent])
        visiting.discard(name)
        done.add(name)
        out.append(job)

    for job in jobs:
        visit(job)
    return out


# ====================================================================== formatting
def last_result(job: dict[str, Any]) -> str:
    if isinstance(job.get("lastResult"), str) and job["lastResult"]:
        return str(job["lastResult"])
    ok, bad = str(job.get("lastSuccess") or ""), str(job.get("lastError") or "")
    if not ok and not bad:
        return "fresh"
    return "success" if ok >= bad else "failure"


def trigger(job: dict[str, Any]) -> str:
    parents = job.get("parents") or []
    if parents:
        return "after " + ", ".join(map(str, parents))
    tz = f" ({job['scheduleTimeZone']})" if job.get("scheduleTimeZone") else ""
    return str(job.get("schedule") or "once") + tz


def next_run(job: dict[str, Any]) -> str:
    if job.get("disabled"):
        return "-"
    if job.get("nextRun"):
        return str(job["nextRun"])
    return "when its parents succeed" if job.get("parents") else "-"


STYLE = {
    "success": "green",
    "succeeded": "green",
    "failure": "red",
    "failed": "red",
    "fresh": "dim",
    "running": "cyan",
    "pending": "cyan",
    "retrying": "yellow",
    "missed": "yellow",
    "skipped": "yellow",
    "killed": "magenta",
    "replaced": "magenta",
}


def styled(result: str) -> str:
    colour = STYLE.get(result.lower(), "white")
    return f"[{colour}]{result}[/{colour}]"


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def as_list(data: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return list(data[key])
    fail(f"unexpected answer from the API (no list of {key}): {str(data)[:200]}")


def runs_of(base: str, name: str, limit: int) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"job": name, "limit": limit})
    return as_list(request("GET", base, f"/v1/runs?{query}"), "runs")


def run_row(r: dict[str, Any]) -> list[str]:
    reason = r.get("reason") or ""
    exit_status = r.get("exitStatus")
    if exit_status not in (None, 0) and f"status {exit_status}" not in reason:
        reason = f"{reason} (exit status {exit_status})".strip()
    return [
        str(r.get("id") or ""),
        str(r.get("kind") or ""),
        str(r.get("scheduled") or ""),
        str(r.get("started") or ""),
        str(r.get("ended") or ""),
        styled(str(r.get("state") or "")),
        str(r.get("attempt", "")),
        str(reason),
    ]


RUN_COLUMNS = ("RUN", "KIND", "SCHEDULED", "STARTED", "ENDED", "STATE", "ATTEMPT", "WHY")
ENDED = frozenset({"succeeded", "failed", "missed", "skipped", "killed", "replaced"})


# ====================================================================== commands
@app.command()
def add(
    file: Path = typer.Argument(
        ..., help="job.json or job.toml: one job, or several (a JSON array, TOML [[jobs]])."
    ),
    url: str | None = UrlOpt,
) -> None:
    """Add or replace the job(s) defined in FILE."""
    base = base_url(url)
    for job in load_jobs(file):
        path = "/dependency" if job.get("parents") else "/iso8601"
        request("POST", base, PREFIX + path, job)
        console.print(f"job [bold]{job['name']}[/bold] saved")


@app.command("list")
def list_jobs(
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
    name: str | None = typer.Option(None, "--name", help="Only jobs whose name contains this."),
) -> None:
    """List the jobs: trigger, next run, last result, state."""
    base = base_url(url)
    if name:
        query = urllib.parse.urlencode({"name": name, "limit": 1_000_000})
        jobs = as_list(request("GET", base, f"{PREFIX}/jobs/search?{query}"), "jobs")
    else:
        jobs = as_list(request("GET", base, f"{PREFIX}/jobs"), "jobs")
    if as_json:
        print_json(jobs)
        return
    table = Table("NAME", "TRIGGER", "NEXT RUN", "LAST RESULT", "STATE", "OK", "FAILED")
    for job in sorted(jobs, key=lambda j: str(j.get("name"))):
        table.add_row(
            str(job.get("name")),
            trigger(job),
            next_run(job),
            styled(last_result(job)),
            "disabled" if job.get("disabled") else str(job.get("state") or "idle"),
            str(job.get("successCount", 0)),
            str(job.get("errorCount", 0)),
        )
    console.print(table)
    if not jobs:
        console.print("[dim]no jobs[/dim]")


@app.command()
def show(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show one job: its fields, next runs, state, last run, and why it waits if it does."""
    base = base_url(url)
    view = request("GET", base, f"/v1/jobs/{quote(name)}")
    if not isinstance(view, dict) or not isinstance(view.get("job"), dict):
        fail(f"unexpected answer from the API for job {name!r}: {str(view)[:200]}")
    if as_json:
        print_json(view)
        return
    job: dict[str, Any] = view["job"]
    table = Table("FIELD", "VALUE", show_header=False)
    table.add_row("[bold]name[/bold]", f"[bold]{job.get('name')}[/bold]")
    table.add_row("trigger", trigger(job))
    table.add_row("state", "disabled" if job.get("disabled") else str(view.get("state") or ""))
    table.add_row("last result", styled(last_result(job)))
    table.add_row("next runs", "\n".join(map(str, view.get("nextRuns") or [])) or next_run(job))
    if view.get("blocked"):
        table.add_row("waiting because", f"[yellow]{view['blocked']}[/yellow]")
    last = view.get("lastRun")
    if isinstance(last, dict):
        table.add_row(
            "last run",
            f"{last.get('id')} {styled(str(last.get('state')))} "
            f"(scheduled {last.get('scheduled')}, ended {last.get('ended') or '-'})",
        )
    for r in view.get("activeRuns") or []:
        table.add_row("active run", f"{r.get('id')} {styled(str(r.get('state')))}")
    for key in sorted(job):
        if key == "name":
            continue
        value = job[key]
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    console.print(table)


@app.command()
def run(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the run to end; exit 0 if it succeeded, else 1."
    ),
    timeout: float = typer.Option(
        600.0, "--timeout", help="With --wait: give up after this many seconds (exit 124)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run a job now (its dependents follow when it succeeds)."""
    if timeout <= 0:
        fail(f"--timeout: must be a positive number of seconds, not {timeout:g}", EXIT_USAGE)
    base = base_url(url)
    before = {r.get("id") for r in runs_of(base, name, 50)} if wait else set()
    request("PUT", base, f"{PREFIX}/job/{quote(name)}")
    if not as_json:
        console.print(f"run of [bold]{name}[/bold] queued")
    if not wait:
        if as_json:
            print_json({"job": name, "queued": True})
        return
    deadline = time.monotonic() + timeout
    mine: dict[str, Any] | None = None
    while True:
        fresh = [r for r in runs_of(base, name, 50) if r.get("id") not in before]
        manual = [r for r in fresh if r.get("kind") == "manual"] or fresh
        if manual:
            mine = manual[-1]  # newest first: the oldest new one is ours
            if mine.get("state") in ENDED:
                break
        if time.monotonic() > deadline:
            where = (
                f"run {mine.get('id')} is still {mine.get('state')}" if mine else "no run appeared"
            )
            fail(f"--timeout: {timeout:g}s passed and {where}", 124)
        time.sleep(0.2)
    if as_json:
        print_json(mine)
    else:
        table = Table(*RUN_COLUMNS)
        table.add_row(*run_row(mine))
        console.print(table)
    if mine.get("state") != "succeeded":
        raise typer.Exit(EXIT_API)


@app.command()
def rm(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
) -> None:
    """Delete a job (its children are re-wired to its parents, as in Chronos)."""
    base = base_url(url)
    request("DELETE", base, f"{PREFIX}/job/{quote(name)}")
    console.print(f"job [bold]{name}[/bold] deleted")


@app.command()
def history(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
    limit: int = typer.Option(20, "--limit", help="How many runs to show (newest first)."),
) -> None:
    """A job's runs, newest first: when due, started and ended, state, and why."""
    if limit <= 0:
        fail(f"--limit: must be a positive number, not {limit}", EXIT_USAGE)
    base = base_url(url)
    request("GET", base, f"{PREFIX}/job/{quote(name)}")  # a clear 404 for an unknown job
    runs = runs_of(base, name, limit)
    if as_json:
        print_json(runs)
        return
    table = Table(*RUN_COLUMNS)
    for r in runs:
        table.add_row(*run_row(r))
    console.print(table)
    if runs:
        logs = runs[0].get("logs") or {}
        if logs.get("stdout"):
            console.print(f"[dim]logs of the newest run: {base}{logs['stdout']}[/dim]")
    else:
        console.print(f"[dim]{name} has not run yet[/dim]")
