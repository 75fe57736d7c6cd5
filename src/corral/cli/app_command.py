"""``corral app``: deploy and look after long-running apps on the services framework.

Talks to ``corral services`` over its Marathon-compatible REST API (``--url``, default
``$CORRAL_SERVICES_URL`` or http://127.0.0.1:8080).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from corral.cli.app_api import DEFAULT_URL, ApiError, ServicesClient, absolute_id, app_path, flag
from corral.cli.app_watch import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_STUCK,
    EXIT_USAGE,
    Observation,
    health_message,
    observe,
    queue_lines,
    task_healthy,
)
from corral.cli.common import framework_url

console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

app = typer.Typer(
    name="app",
    help="Deploy and manage long-running apps on `corral services` (Marathon's /v2 API).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

UrlOpt = typer.Option(
    None,
    "--url",
    help=(
        f"The services API (default: $CORRAL_SERVICES_URL, the `corral up` cluster's, "
        f"or {DEFAULT_URL})."
    ),
)
ForceOpt = typer.Option(False, "--force", help="Cancel deployments in the way (Marathon's force).")
WaitOpt = typer.Option(False, "--wait", help="Follow the deployment until it ends.")
TimeoutOpt = typer.Option(300.0, "--timeout", help="With --wait: give up after this many seconds.")
JsonOpt = typer.Option(False, "--json", help="Print the API's JSON.")


def client(url: str | None) -> ServicesClient:
    return ServicesClient(framework_url(url, "CORRAL_SERVICES_URL", "services", DEFAULT_URL))


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err_console.print(f"corral: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def fail_api(exc: ApiError, what: str = "") -> NoReturn:
    lines = [f"{what}: {exc.message}" if what else exc.message]
    for path, errors in exc.details:
        for e in errors or ["invalid"]:
            lines.append(f"  {path}: {e}")
    if exc.status == 409 and exc.deployments:
        lines.append(
            f"  deployment(s) in the way: {', '.join(exc.deployments)} "
            "(wait for them, cancel them with `corral app cancel ID`, or retry with --force)"
        )
    fail("\n".join(lines), EXIT_USAGE if exc.status in (400, 422) else EXIT_ERROR)


def print_json(doc: object) -> None:
    print(json.dumps(doc, indent=2))


# ------------------------------------------------------------------ following a deployment
def wait_for(
    c: ServicesClient,
    deployment_id: str,
    app_id: str,
    version: str | None,
    *,
    timeout: float,
    delete: bool = False,
) -> None:
    """Follow a deployment with a progress bar; exit with the status EXIT_HELP describes."""
    start = time.monotonic()
    bar = Progress(
        TextColumn("[bold]{task.fields[app]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task("starting", total=None, app=app_id)
    reasons: list[str] = []
    obs: Observation | None = None
    last_why = 0.0
    with Live(Group(bar), console=console, refresh_per_second=4, transient=False) as live:
        while True:
            try:
                obs = observe(
                    deployment_id,
                    c.deployments(),
                    c.app(app_id),
                    version=version,
                    delete=delete,
                )
            except ApiError as exc:
                live.stop()
                fail_api(exc, "while following the deployment")
            p = obs.progress
            bar.update(
                task,
                total=(p.target or None) if not delete else None,
                completed=p.ready,
                description=p.describe() if not obs.done else obs.message,
            )
            if obs.done:
                break
            elapsed = time.monotonic() - start
            if elapsed - last_why >= 2.0 and elapsed >= 2.0:
                last_why = elapsed
                reasons = collect_reasons(c, app_id, p.waiting)
                live.update(Group(bar, reasons_text(reasons)))
            if elapsed >= timeout:
                live.stop()
                reasons = collect_reasons(c, app_id, p.waiting)
                err_console.print(
                    f"corral: deployment {deployment_id} is not done after {timeout:g} s "
                    f"({p.describe()}; {p.ready}/{p.target} instances ready). It goes on; "
                    f"cancel it with `corral app cancel {deployment_id}`.",
                    markup=False,
                )
                for r in reasons or ["no reason is known"]:
                    err_console.print(f"  waiting: {r}", markup=False, highlight=False)
                raise typer.Exit(EXIT_STUCK)
            time.sleep(0.5)
    took = time.monotonic() - start
    if not obs.ok:
        fail(f"deployment {deployment_id}: {obs.message}", EXIT_FAILED)
    console.print(f"deployment {deployment_id} succeeded in {took:.1f} s: {obs.message}")


def collect_reasons(c: ServicesClient, app_id: str, waiting: str | None = None) -> list[str]:
    out: list[str] = [waiting] if waiting else []
    try:
        out += [r for r in c.why(app_id) if r not in out]
    except ApiError as exc:
        if exc.status != 404:
            out.append(f"(cannot ask why: {exc.message})")
    try:
        out += [q for q in queue_lines(c.queue(), absolute_id(app_id)) if q not in out]
    except ApiError:
        pass
    return out


def reasons_text(reasons: list[str]) -> Text:
    t = Text()
    for r in reasons:
        t.append("  waiting: ", style="yellow")
        t.append(r + "\n")
    return t


def started(
    c: ServicesClient,
    what: str,
    app_id: str,
    deployment_id: str | None,
    version: str | None,
    *,
    wait: bool,
    timeout: float,
    delete: bool = False,
) -> None:
    console.print(
        f"{what} {app_id}: deployment {deployment_id or '(none)'}"
        + (f", version {version}" if version else "")
    )
    if wait:
        if deployment_id is None:
            console.print("no deployment to wait for: the change is done")
            return
        wait_for(c, deployment_id, app_id, version, timeout=timeout, delete=delete)


# ------------------------------------------------------------------ commands
@app.command()
def deploy(
    file: Path = typer.Argument(..., help="The app definition: a .json or .toml file."),
    url: str | None = UrlOpt,
    force: bool = ForceOpt,
    wait: bool = WaitOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Create the app in FILE, or update it to FILE's definition (a full replace).

    With --wait, follow its deployment with a progress bar until it ends.
    Exit status with --wait: 0 when the deployment succeeds; 3 when it is still not done
    after --timeout (the reasons are printed; the deployment goes on); 4 when it was
    cancelled, rolled back or superseded; 1 for an API error or the API unreachable; 2 for bad
    input (a definition the API refused included).
    """
    from corral.frameworks.services.codec import Invalid, load_app_file

    if file.suffix.lower() not in (".json", ".toml"):
        fail(f"FILE: {file} must end in .json or .toml", EXIT_USAGE)
    try:
        doc = load_app_file(file)
    except OSError as exc:
        fail(f"FILE: cannot read {file}: {exc.strerror or exc}", EXIT_USAGE)
    except Invalid as exc:
        fail_api(ApiError(422, exc.message, [(d.path, list(d.errors)) for d in exc.details]))
    except ValueError as exc:
        fail(f"FILE: {file} is not valid {file.suffix[1:].upper()}: {exc}", EXIT_USAGE)
    if not isinstance(doc, dict):
        fail(
            f"FILE: {file} must hold one app (an object with an 'id'), not {type(doc).__name__}",
            EXIT_USAGE,
        )
    raw_id = doc.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip("/"):
        fail(f"FILE: {file} has no app 'id'", EXIT_USAGE)
    app_id = absolute_id(raw_id)
    c = client(url)
    try:
        exists = c.app(app_id) is not None
        if exists:
            body = {k: v for k, v in doc.items() if k != "version"}
            _, dep, version = c.change(
                "PUT",
                f"/v2/apps/{app_path(app_id)}",
                body,
                {"force": flag(force), "partialUpdate": "false"},
            )
        else:
            _, dep, version = c.change("POST", "/v2/apps", doc, {"force": flag(force)})
    except ApiError as exc:
        fail_api(exc, f"cannot deploy {app_id}")
    if version is None and wait:
        got = c.app(app_id)
        version = str(got.get("version")) if got and got.get("version") else None
    started(
        c,
        "updated" if exists else "created",
        app_id,
        dep,
        version,
        wait=wait,
        timeout=timeout,
    )


@app.command("list")
def list_apps(
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
    id_filter: str | None = typer.Option(None, "--id", help="Only ids containing this."),
    label: str | None = typer.Option(None, "--label", help="A label selector (k==v, k in (a,b))."),
) -> None:
    """List the apps with their instance counts and deployments."""
    query = {k: v for k, v in (("id", id_filter), ("label", label)) if v}
    try:
        apps = client(url).apps(query or None)
    except ApiError as exc:
        fail_api(exc, "cannot list apps")
    if as_json:
        print_json(apps)
        return
    table = Table(
        "ID",
        "RUNNING",
        "HEALTHY",
        "UNHEALTHY",
        "STAGED",
        "CPUS",
        "MEM",
        "DEPLOYMENT",
        "CMD / IMAGE",
    )
    for a in sorted(apps, key=lambda a: str(a.get("id"))):
        table.add_row(
            str(a.get("id")),
            f"{a.get('tasksRunning', 0)}/{a.get('instances', 0)}",
            str(a.get("tasksHealthy", 0)),
            str(a.get("tasksUnhealthy", 0)),
            str(a.get("tasksStaged", 0)),
            f"{a.get('cpus', 0):g}",
            f"{a.get('mem', 0):g}",
            ", ".join(str(d.get("id")) for d in a.get("deployments") or []) or "-",
            what_runs(a),
        )
    console.print(table)
    if not apps:
        console.print("no apps")


def what_runs(a: dict[str, Any]) -> str:
    image = ((a.get("container") or {}).get("docker") or {}).get("image")
    if a.get("cmd"):
        text = str(a["cmd"])
    elif a.get("args"):
        text = " ".join(str(x) for x in a["args"])
    else:
        text = ""
    if image:
        text = f"[{image}] {text}".strip()
    return text if len(text) <= 60 else text[:57] + "..."


@app.command()
def show(
    app_id: str = typer.Argument(..., metavar="APP", help="The app id (e.g. /web or web)."),
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show one app: its definition, instances with their health, deployments."""
    c = client(url)
    try:
        a = c.app(app_id)
    except ApiError as exc:
        fail_api(exc)
    if a is None:
        fail(f"App '{absolute_id(app_id)}' does not exist", EXIT_ERROR)
    if as_json:
        print_json(a)
        return
    console.print(f"[bold]{a.get('id')}[/bold]  version {a.get('version')}")
    console.print(
        f"  instances {a.get('tasksRunning', 0)}/{a.get('instances', 0)} running, "
        f"{a.get('tasksHealthy', 0)} healthy, {a.get('tasksUnhealthy', 0)} unhealthy, "
        f"{a.get('tasksStaged', 0)} staged"
    )
    console.print(f"  cpus {a.get('cpus')}  mem {a.get('mem')}  disk {a.get('disk')}", markup=False)
    if what_runs(a):
        console.print(f"  runs: {what_runs(a)}", markup=False, highlight=False)
    for hc in a.get("healthChecks") or []:
        console.print(
            f"  health check: {hc.get('protocol')} every {hc.get('intervalSeconds')} s",
            markup=False,
        )
    deps = [str(d.get("id")) for d in a.get("deployments") or []]
    if deps:
        console.print(f"  deployments: {', '.join(deps)}", markup=False)
    failure = a.get("lastTaskFailure")
    if isinstance(failure, dict):
        console.print(
            f"  last failure: {failure.get('taskId')} {failure.get('state')} at "
            f"{failure.get('timestamp')}: {failure.get('message')}",
            markup=False,
            highlight=False,
        )
    tasks = a.get("tasks") or []
    if tasks:
        table = Table("TASK", "HOST", "PORTS", "STATE", "HEALTH", "VERSION", "MESSAGE")
        for t in tasks:
            h = task_healthy(t)
            table.add_row(
                str(t.get("id")),
                str(t.get("host", "")),
                ",".join(str(p) for p in t.get("ports") or []),
                str(t.get("state", "")),
                "-" if h is None else ("healthy" if h else "unhealthy"),
                str(t.get("version", "")),
                health_message(t),
            )
        console.print(table)


@app.command()
def scale(
    app_id: str = typer.Argument(..., metavar="APP", help="The app id."),
    instances: int = typer.Argument(..., metavar="N", help="The number of instances."),
    url: str | None = UrlOpt,
    force: bool = ForceOpt,
    wait: bool = WaitOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Scale APP to N instances (no restart). Exit status with --wait: see `deploy --help`."""
    if instances < 0:
        fail("N: the number of instances must be 0 or more", EXIT_USAGE)
    c = client(url)
    try:
        _, dep, version = c.change(
            "PUT", f"/v2/apps/{app_path(app_id)}", {"instances": instances}, {"force": flag(force)}
        )
    except ApiError as exc:
        fail_api(exc, f"cannot scale {absolute_id(app_id)}")
    started(
        c, f"scaling to {instances}:", absolute_id(app_id), dep, version, wait=wait, timeout=timeout
    )


@app.command()
def restart(
    app_id: str = typer.Argument(..., metavar="APP", help="The app id."),
    url: str | None = UrlOpt,
    force: bool = ForceOpt,
    wait: bool = WaitOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Replace every instance of APP, following its upgradeStrategy.
    Exit status with --wait: see `deploy --help`."""
    c = client(url)
    try:
        _, dep, version = c.change(
            "POST", f"/v2/apps/{app_path(app_id)}/restart", None, {"force": flag(force)}
        )
    except ApiError as exc:
        fail_api(exc, f"cannot restart {absolute_id(app_id)}")
    started(c, "restarting", absolute_id(app_id), dep, version, wait=wait, timeout=timeout)


@app.command("rm")
def remove(
    app_id: str = typer.Argument(..., metavar="APP", help="The app id."),
    url: str | None = UrlOpt,
    force: bool = ForceOpt,
    wait: bool = WaitOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Delete APP and kill its instances. Exit status with --wait: see `deploy --help`."""
    c = client(url)
    try:
        _, dep, version = c.change(
            "DELETE", f"/v2/apps/{app_path(app_id)}", None, {"force": flag(force)}
        )
    except ApiError as exc:
        fail_api(exc, f"cannot delete {absolute_id(app_id)}")
    started(
        c, "deleting", absolute_id(app_id), dep, version, wait=wait, timeout=timeout, delete=True
    )


@app.command()
def why(
    app_id: str = typer.Argument(..., metavar="APP", help="The app id."),
    url: str | None = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Why APP's instances are not (all) running: placement, resources, backoff, health."""
    c = client(url)
    try:
        a = c.app(app_id)
        if a is None:
            fail(f"App '{absolute_id(app_id)}' does not exist")
        reasons = c.why(app_id)
        queued = queue_lines(c.queue(), str(a.get("id")))
    except ApiError as exc:
        fail_api(exc)
    if as_json:
        print_json({"app": a.get("id"), "reasons": reasons, "queue": queued})
        return
    running, target = int(a.get("tasksRunning", 0)), int(a.get("instances", 0))
    console.print(f"{a.get('id')}: {running}/{target} instances running", markup=False)
    for line in reasons + [q for q in queued if q not in reasons]:
        console.print(f"  - {line}", markup=False, highlight=False)
    if not reasons and not queued:
        console.print("  nothing is waiting" if running >= target else "  no reason is known yet")


@app.command()
def cancel(
    deployment_id: str = typer.Argument(..., metavar="DEPLOYMENT", help="The deployment id."),
    url: str | None = UrlOpt,
    force: bool = typer.Option(
        False, "--force", help="Just stop it where it is, with no rollback deployment."
    ),
) -> None:
    """Cancel a deployment: roll its apps back to before it (or, with --force, just stop it)."""
    c = client(url)
    try:
        _, dep, _version = c.change(
            "DELETE", f"/v2/deployments/{deployment_id}", None, {"force": flag(force)}
        )
    except ApiError as exc:
        fail_api(exc, f"cannot cancel deployment {deployment_id}")
    if force:
        console.print(f"deployment {deployment_id} stopped")
    else:
        console.print(
            f"deployment {deployment_id} cancelled: rollback deployment {dep or '(none)'}"
        )
