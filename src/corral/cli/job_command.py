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
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:4400"
PREFIX = "/v1/scheduler"
EXIT_API = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 69

app = typer.Typer(
    name="job",
    help="Scheduled jobs with dependencies: talk to a running `corral jobs`.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(width=None if sys.stdout.isatty() else 200)

UrlOpt = typer.Option(
    None,
    "--url",
    help=f"Base URL of the jobs API (default: $CORRAL_JOBS_URL or {DEFAULT_URL}).",
)
JsonOpt = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")


# ====================================================================== HTTP
def fail(message: str, code: int = EXIT_API) -> NoReturn:
    typer.echo(f"corral job: {message}", err=True)
    raise typer.Exit(code)


def base_url(flag: str | None) -> str:
    url = (flag or os.environ.get("CORRAL_JOBS_URL") or DEFAULT_URL).strip().rstrip("/")
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
def load_jobs(path: Path) -> list[dict[str, Any]]:
    """A job file: one job (a JSON object or a TOML document with the job's fields), or
    several (a JSON array, or TOML ``[[jobs]]`` tables). Fields are the API's job JSON."""
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"job file {path}: {exc.strerror or exc}", EXIT_USAGE)
    suffix = path.suffix.lower()
    data: Any
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            fail(f"job file {path}: not valid TOML: {exc}", EXIT_USAGE)
        if set(data) == {"jobs"} and isinstance(data["jobs"], list):
            data = data["jobs"]
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            fail(f"job file {path}: not valid JSON: {exc}", EXIT_USAGE)
    else:
        fail(f"job file {path}: name it *.json or *.toml", EXIT_USAGE)
    jobs = data if isinstance(data, list) else [data]
    for i, job in enumerate(jobs):
        where = f"job file {path}" + (f", job {i + 1}" if len(jobs) > 1 else "")
        if not isinstance(job, dict):
            fail(f"{where}: a job is an object of fields, not {type(job).__name__}", EXIT_USAGE)
        if not isinstance(job.get("name"), str) or not job["name"]:
            fail(f"{where}: field 'name' is required (a string)", EXIT_USAGE)
    if not jobs:
        fail(f"job file {path}: no jobs in it", EXIT_USAGE)
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


STYLE = {"success": "green", "failure": "red", "fresh": "dim", "running": "cyan"}


def styled(result: str) -> str:
    colour = STYLE.get(result.lower(), "yellow")
    return f"[{colour}]{result}[/{colour}]"


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def as_list(data: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return list(data[key])
    fail(f"unexpected answer from the API (no list of {key}): {str(data)[:200]}")


# ====================================================================== commands
@app.command()
def add(
    file: Path = typer.Argument(..., help="job.json or job.toml (one job, or a list of jobs)."),
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
    """List the jobs: trigger, next run, last result."""
    base = base_url(url)
    if name:
        query = urllib.parse.urlencode({"name": name, "limit": 100000})
        jobs = as_list(request("GET", base, f"{PREFIX}/jobs/search?{query}"), "jobs")
    else:
        jobs = as_list(request("GET", base, f"{PREFIX}/jobs"), "jobs")
    if as_json:
        print_json(jobs)
        return
    table = Table("NAME", "TRIGGER", "NEXT RUN", "LAST RESULT", "OK", "FAILED", "ENABLED")
    for job in sorted(jobs, key=lambda j: str(j.get("name"))):
        table.add_row(
            str(job.get("name")),
            trigger(job),
            str(job.get("nextRun") or ("" if job.get("parents") else "-")),
            styled(last_result(job)),
            str(job.get("successCount", 0)),
            str(job.get("errorCount", 0)),
            "no" if job.get("disabled") else "yes",
        )
    console.print(table)


@app.command()
def show(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show every field of one job."""
    base = base_url(url)
    job = request("GET", base, f"{PREFIX}/job/{quote(name)}")
    if not isinstance(job, dict):
        fail(f"unexpected answer from the API for job {name!r}: {str(job)[:200]}")
    if as_json:
        print_json(job)
        return
    table = Table("FIELD", "VALUE", show_header=False)
    table.add_row("last result", styled(last_result(job)))
    for key in sorted(job):
        value = job[key]
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    console.print(table)


@app.command()
def run(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
) -> None:
    """Run a job now (its dependents follow when it succeeds)."""
    base = base_url(url)
    request("PUT", base, f"{PREFIX}/job/{quote(name)}")
    console.print(f"run of [bold]{name}[/bold] queued")


@app.command()
def rm(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
) -> None:
    """Delete a job."""
    base = base_url(url)
    request("DELETE", base, f"{PREFIX}/job/{quote(name)}")
    console.print(f"job [bold]{name}[/bold] deleted")


@app.command()
def history(
    name: str = typer.Argument(..., help="The job's name."),
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A job's runs, newest first: when due, started and finished, result, logs."""
    base = base_url(url)
    runs = as_list(request("GET", base, f"{PREFIX}/job/{quote(name)}/runs"), "runs")
    if as_json:
        print_json(runs)
        return
    table = Table("RUN", "SCHEDULED", "STARTED", "FINISHED", "RESULT", "ATTEMPT", "MESSAGE")
    for r in runs:
        table.add_row(
            str(r.get("id") or r.get("taskId") or ""),
            str(r.get("scheduledAt") or ""),
            str(r.get("startedAt") or ""),
            str(r.get("finishedAt") or ""),
            styled(str(r.get("result") or r.get("state") or "")),
            str(r.get("attempt", "")),
            str(r.get("message") or ""),
        )
    console.print(table)
    if not runs:
        console.print(f"[dim]{name} has not run yet[/dim]")
