"""``corral job create|status|killall|update ...``: Aurora-style jobs (keys ``role/env/name``,
TOML specs), talking to a running ``corral aurora`` front end (docs/aurora.md).

``--url`` defaults to ``$CORRAL_AURORA_URL`` or ``http://127.0.0.1:8081``. Exit codes: 0
done; 1 a runtime failure (the front end refused, an update that did not roll forward, the
front end unreachable); 2 bad usage (a flag, the key, the spec file, a spec refused).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from corral.cli.common import framework_url
from corral.frameworks.aurora.spec import JobSpec, SpecError, load_spec, parse_key
from corral.security.client import ClientSecurity

DEFAULT_URL = "http://127.0.0.1:8081"
EXIT_RUNTIME = 1
EXIT_USAGE = 2
ENDED = ("rolled_forward", "rolled_back", "aborted", "failed")

console = Console(width=None if sys.stdout.isatty() else 200)
update_app = typer.Typer(
    name="update",
    help="Updates of an Aurora-style job: in batches, watched, rolled back on failure.",
    no_args_is_help=True,
    add_completion=False,
)
UrlOpt = typer.Option(
    None,
    "--url",
    help=(
        f"The aurora front end (default: $CORRAL_AURORA_URL, the `corral up` cluster's, "
        f"or {DEFAULT_URL})."
    ),
)
KeyArg = typer.Argument(..., help="The job key: role/env/name.")
SpecArg = typer.Argument(..., help="The job's spec, a TOML file (docs/aurora.md).")
JsonOpt = typer.Option(False, "--json", help="Print the front end's JSON.")


def fail(message: str, code: int = EXIT_RUNTIME) -> NoReturn:
    typer.echo(f"corral job: {message}", err=True)
    raise typer.Exit(code)


def base_url(flag: str | None) -> str:
    url = framework_url(flag, "CORRAL_AURORA_URL", "aurora", DEFAULT_URL).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        fail(f"--url: {url!r} is not an http:// URL", EXIT_USAGE)
    return url


def key_path(key: str) -> str:
    try:
        return f"/jobs/{parse_key(key)}"
    except SpecError as exc:
        fail(str(exc), EXIT_USAGE)


def read_spec(path: Path) -> dict[str, Any]:
    try:
        spec: JobSpec = load_spec(path)
    except SpecError as exc:
        fail(str(exc), EXIT_USAGE)
    result: dict[str, Any] = msgspec.to_builtins(spec)
    return result


def call(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    for k, v in ClientSecurity.from_env().headers().items():
        req.add_header(k, v)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            message = str(json.loads(text).get("message") or text)
        except (ValueError, AttributeError):
            message = text or f"HTTP {exc.code}"
        fail(message, EXIT_USAGE if exc.code in (400, 422) else EXIT_RUNTIME)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(
            f"cannot reach the aurora front end at {url}: {reason} "
            "(is `corral aurora` running? see --url or $CORRAL_AURORA_URL)"
        )
    return json.loads(raw) if raw.strip() else None


def show(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


# ====================================================================== job commands
def create(key: str = KeyArg, spec: Path = SpecArg, url: str | None = UrlOpt) -> None:
    """Create an Aurora-style job KEY (role/env/name) from a TOML spec (quota is checked)."""
    path = key_path(key)
    body = read_spec(spec)
    out = call(base_url(url), "POST", path, body)
    what = "cron job on the jobs framework" if out.get("kind") == "cron" else "service"
    console.print(f"job [bold]{key}[/bold] created ({what}, version {out.get('version')})")


def status(key: str = KeyArg, url: str | None = UrlOpt, as_json: bool = JsonOpt) -> None:
    """A job's instances (state, health, version, host) and its update."""
    out = call(base_url(url), "GET", key_path(key))
    if as_json:
        show(out)
        return
    spec = out.get("spec") or {}
    console.print(
        f"[bold]{out['job']}[/bold] {out['kind']}, version {out['version']}, "
        f"tier {out.get('tier')}, priority {spec.get('priority', 0)}"
    )
    if out["kind"] == "cron":
        cron = out.get("cron") or {}
        console.print(f"  schedule {spec.get('cron_schedule')}; next run {cron.get('nextRun')}")
        last = cron.get("lastRun") or {}
        console.print(f"  last run: {last.get('state', 'none')}")
    else:
        table = Table("INSTANCE", "STATE", "HEALTHY", "VERSION", "HOST", "PORTS", "LAST FAILURE")
        for row in out.get("instances") or []:
            table.add_row(
                str(row["instance"]),
                str(row["state"]),
                "yes" if row["healthy"] else "no",
                str(row["version"]),
                str(row.get("host") or ""),
                ",".join(map(str, row.get("ports") or [])),
                str(row.get("last_failure") or ""),
            )
        console.print(table)
    upd = out.get("update")
    if upd:
        console.print(f"update: {upd['status']} ({upd['from']} -> {upd['to']}) {upd['message']}")


def killall(key: str = KeyArg, url: str | None = UrlOpt) -> None:
    """Kill every instance of a job and forget it."""
    call(base_url(url), "DELETE", key_path(key))
    console.print(f"job [bold]{key}[/bold] killed")


# ====================================================================== update commands
def print_update(info: dict[str, Any]) -> None:
    console.print(
        f"update of [bold]{info['job']}[/bold]: {info['status']}, batch {info['batch']}, "
        f"instances {info['current']} {info['message']}".rstrip()
    )


@update_app.command("start")
def update_start(
    key: str = KeyArg,
    spec: Path = SpecArg,
    url: str | None = UrlOpt,
    wait: bool = typer.Option(
        False, "--wait", help="Follow the update; exit 0 if it rolled forward, else 1."
    ),
    timeout: float = typer.Option(600.0, "--timeout", help="With --wait: give up after this."),
) -> None:
    """Update a job to a new spec, batch by batch (rolled back by itself if it fails)."""
    if timeout <= 0:
        fail(f"--timeout: must be a positive number of seconds, not {timeout:g}", EXIT_USAGE)
    path = key_path(key)
    body = read_spec(spec)
    base = base_url(url)
    info = call(base, "POST", path + "/update", body)
    print_update(info)
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while info["status"] not in ENDED:
        if time.monotonic() > deadline:
            fail(f"--timeout: {timeout:g}s passed and the update is {info['status']}")
        time.sleep(0.5)
        info = call(base, "GET", path + "/update")
    print_update(info)
    if info["status"] != "rolled_forward":
        raise typer.Exit(EXIT_RUNTIME)


def _command(name: str) -> Any:
    def command(key: str = KeyArg, url: str | None = UrlOpt) -> None:
        print_update(call(base_url(url), "POST", key_path(key) + f"/update/{name}"))

    command.__doc__ = {
        "pause": "Pause a job's update (nothing new starts until resume).",
        "resume": "Resume a paused update (a watch under way starts over).",
        "abort": "Abort an update where it is (instances may be left on either version).",
    }[name]
    return command


for _name in ("pause", "resume", "abort"):
    update_app.command(_name)(_command(_name))


@update_app.command("info")
def update_info(key: str = KeyArg, url: str | None = UrlOpt, as_json: bool = JsonOpt) -> None:
    """A job's (last) update: status, batch, instances, and what happened."""
    info = call(base_url(url), "GET", key_path(key) + "/update")
    if as_json:
        show(info)
        return
    print_update(info)
    for entry in info.get("log") or []:
        stamp = time.strftime("%H:%M:%S", time.gmtime(entry["at"]))
        console.print(f"  {stamp} {entry['event']}")


def register(app: typer.Typer) -> None:
    """Add these commands to ``corral job`` beside the jobs framework's."""
    app.command("create")(create)
    app.command("status")(status)
    app.command("killall")(killall)
    app.add_typer(update_app, name="update")
