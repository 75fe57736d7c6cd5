"""``corral run``: run a command (or ``--count`` copies) on the cluster, as ``srun`` or
``docker run`` would. Exit codes and output: docs/run.md."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from corral.cli.common import fail, resolve_master

if TYPE_CHECKING:
    from corral.frameworks.run import RunOutcome
    from corral.frameworks.run_plan import TaskResult, Waiting
    from corral.wire.tasks import TaskStatus

MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT of the master (default: $CORRAL_MASTER or the `corral up` cluster).",
)
err_console = Console(stderr=True, highlight=False)
SHOW_FAILED = 10  # a batch's summary lists at most this many failed tasks


def run(
    command: list[str] = typer.Argument(..., help="The command (after --)."),
    master: str | None = MasterOpt,
    cpus: float = typer.Option(0.1, "--cpus", help="CPUs per task."),
    mem: float = typer.Option(32.0, "--mem", help="Memory per task, MB."),
    disk: float = typer.Option(0.0, "--disk", help="Disk per task, MB."),
    count: int = typer.Option(1, "--count", help="Run this many copies."),
    name: str = typer.Option("corral-run", "--name", help="Framework and task name prefix."),
    env: list[str] = typer.Option(
        [], "--env", help="KEY=VALUE for the task's environment (repeatable)."
    ),
    uri: list[str] = typer.Option(
        [], "--uri", help="A URI to fetch into the sandbox (repeatable)."
    ),
    role: str = typer.Option("*", "--role", help="Role to run under."),
    timeout: float = typer.Option(
        0.0,
        "--timeout",
        help="Give up after this many seconds, killing the tasks (exit 124; 0: wait forever).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print only the task's states, not its output."
    ),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Return once the tasks run, printing their ids."
    ),
    kill_grace: float = typer.Option(
        -1.0,
        "--kill-grace",
        help="Seconds between SIGTERM and SIGKILL when a task is killed (default: the agent's, 3).",
    ),
    connect_timeout: float = typer.Option(
        15.0,
        "--connect-timeout",
        help="Give up reaching the master, or after losing it, after this long (exit 69).",
    ),
    health_cmd: str = typer.Option(
        "", "--health-cmd", help="A shell command the agent runs to check the task's health."
    ),
    health_interval: float = typer.Option(
        10.0, "--health-interval", help="Seconds between health checks (and before the first)."
    ),
    health_timeout: float = typer.Option(
        20.0, "--health-timeout", help="Seconds a health check may take."
    ),
    health_retries: int = typer.Option(
        3, "--health-retries", help="Consecutive failed health checks that kill the task."
    ),
    health_start_period: float = typer.Option(
        10.0, "--health-start-period", help="Seconds from the start when failures do not count."
    ),
    docker_image: str = typer.Option(
        "", "--docker-image", help="Run the command in this docker image (agents with docker)."
    ),
    docker_network: str = typer.Option(
        "host", "--docker-network", help="With --docker-image: host, bridge or none."
    ),
    force_pull: bool = typer.Option(
        False, "--force-pull", help="With --docker-image: pull the image even if it is local."
    ),
    user: str = typer.Option(
        "",
        "--user",
        help="Run the command as this OS user of the agent (CommandInfo.user; default: "
        "the framework's user, yours).",
    ),
) -> None:
    """Run a command (or --count copies) on the cluster, showing its output; exit with its
    exit code."""
    from corral.frameworks.run import RunListener
    from corral.frameworks.run import run as run_framework
    from corral.frameworks.run_plan import RunSpec
    from corral.wire.common import DurationInfo
    from corral.wire.tasks import CommandInfo, HealthCheck, KillPolicy, is_terminal

    if count < 1:
        fail("--count must be at least 1")
    if cpus <= 0 and mem <= 0:
        fail("--cpus or --mem must be positive")
    if cpus < 0 or mem < 0 or disk < 0:
        fail("--cpus, --mem and --disk must not be negative")
    if timeout < 0:
        fail("--timeout must not be negative")
    if connect_timeout <= 0:
        fail("--connect-timeout must be positive")
    if kill_grace < 0 and kill_grace != -1.0:
        fail("--kill-grace must not be negative")
    if detach and as_json:
        fail("--detach prints task ids; it does not go with --json")
    if health_interval <= 0 or health_timeout <= 0 or health_start_period < 0:
        fail(
            "--health-interval and --health-timeout must be positive, "
            "--health-start-period must not be negative"
        )
    if health_retries < 1:
        fail("--health-retries must be at least 1")
    environment: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--env: expected KEY=VALUE, got {item!r}")
        environment[key] = value
    if docker_network.lower() not in ("host", "bridge", "none"):
        fail(f"--docker-network: expected host, bridge or none, got {docker_network!r}")
    if not docker_image and (force_pull or docker_network.lower() != "host"):
        fail("--force-pull and --docker-network need --docker-image")
    if user != user.strip() or any(c in user for c in ":/\n"):
        fail(f"--user: not a user name: {user!r}")
    if docker_image and (docker_image != docker_image.strip() or not docker_image.strip()):
        fail(f"--docker-image: not an image name: {docker_image!r}")
    address = resolve_master(master, keep_zk=True)  # the driver follows failovers itself
    shell_cmd = command[0] if len(command) == 1 else " ".join(shlex.quote(c) for c in command)
    policy = None
    if kill_grace >= 0:
        policy = KillPolicy(grace_period=DurationInfo(nanoseconds=int(kill_grace * 1e9)))
    health = None
    if health_cmd:
        health = HealthCheck(
            type="COMMAND",
            command=CommandInfo(value=health_cmd),
            delay_seconds=health_interval,
            interval_seconds=health_interval,
            timeout_seconds=health_timeout,
            consecutive_failures=health_retries,
            grace_period_seconds=health_start_period,
        )
    spec = RunSpec(
        command=shell_cmd,
        count=count,
        cpus=cpus,
        mem=mem,
        disk=disk,
        name=name,
        env=environment,
        uris=list(uri),
        role=role,
        docker_image=docker_image or None,
        docker_network=docker_network.upper(),
        force_pull=force_pull,
        kill_policy=policy,
        health_check=health,
        user=user or None,
    )
    single = count == 1 and not as_json
    progress = None
    if count > 1 and not as_json:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=err_console,
        )
    bar = progress.add_task("running", total=count, failed=0) if progress else None
    finals: list[str] = []  # a single task's last line waits for the end of its output

    class Show(RunListener):
        failed = 0

        def update(self, result: TaskResult, status: TaskStatus) -> None:
            ended = is_terminal(result.state)
            if progress is not None and bar is not None and ended:
                self.failed += result.state != "TASK_FINISHED"
                progress.update(bar, advance=1, failed=self.failed)
            if not single:
                return
            line = state_line(result, status)
            if ended:
                finals.append(line)  # after the task's last output
            else:
                _out(line + "\n")

        def waiting(self, waiting: Waiting) -> None:
            tasks = "task" if waiting.pending == 1 else "tasks"
            message = f"corral: waiting to place {waiting.pending} {tasks}: {waiting.reason}"
            (progress.console if progress else err_console).print(message, markup=False)

    stream = None if (quiet or detach or not single) else _write_output
    start = time.monotonic()
    if progress is not None:
        progress.start()
    try:
        outcome = asyncio.run(
            run_framework(
                address,
                spec,
                Show(),
                timeout=timeout or None,
                detach=detach,
                stream=stream,
                connect_timeout=connect_timeout,
            )
        )
    except KeyboardInterrupt:  # a second Ctrl-C while the run tears down
        fail("interrupted", 130)
    finally:
        if progress is not None:
            progress.stop()
    for line in finals:
        _out(line + "\n")
    _report(
        outcome,
        address,
        count,
        time.monotonic() - start,
        as_json,
        timeout,
        single,
        connect_timeout,
    )
    code = outcome.exit_code()
    if code:
        raise typer.Exit(code)


def state_line(result: TaskResult, status: TaskStatus) -> str:
    line = f"{result.task_id} {status.state}"
    if status.reason and status.state != "TASK_RUNNING":
        line += f" ({status.reason})"
    if status.message and status.state != "TASK_RUNNING":
        line += f": {status.message}"
    if status.healthy is not None:
        line += " (healthy)" if status.healthy else " (unhealthy)"
        if status.state == "TASK_RUNNING" and not status.healthy and status.message:
            line += f": {status.message}"
    return line


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _write_output(name: str, text: str) -> None:
    f = sys.stderr if name == "stderr" else sys.stdout
    f.write(text)
    f.flush()


def _report(
    outcome: RunOutcome,
    address: str,
    count: int,
    elapsed: float,
    as_json: bool,
    timeout: float,
    single: bool,
    connect_timeout: float,
) -> None:
    fw = outcome.framework
    results = outcome.results
    if outcome.ending == "unreachable":
        fail(f"cannot reach the master at {address} (is the cluster up? see --master)", 69)
    if outcome.ending == "lost":
        fail(
            f"lost the master at {address}: no answer for --connect-timeout "
            f"{connect_timeout:g}s (did the cluster go away?); {fw.plan.remaining} of {count} "
            "task(s) had not ended and their state is unknown",
            69,
        )
    if outcome.ending == "refused":
        fail(f"the master refused the framework: {fw.failure_message or 'no reason given'}", 1)
    if as_json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    elif outcome.ending == "detached":
        for r in results:
            _out(r.task_id + "\n")
    elif single:
        r = results[0]
        if not r.launched:
            pass  # never placed: the message below says why
        elif r.exit_code is not None:
            _out(f"exit code {r.exit_code}\n")
        elif r.state != "TASK_FINISHED":
            _out(f"{r.state}" + (f" ({r.reason})" if r.reason else "") + "\n")
    else:
        summary = ", ".join(
            f"{n} {st.removeprefix('TASK_').lower()}"
            for st, n in sorted(fw.plan.by_state().items())
        )
        _out(f"{count} tasks in {elapsed:.2f}s: {summary}\n")
        failed = [r for r in results if r.state not in ("TASK_FINISHED", "TASK_STAGING")]
        for r in failed[:SHOW_FAILED]:
            detail = f"exit code {r.exit_code}" if r.exit_code is not None else r.message or ""
            _out(f"  {r.task_id} {r.state}" + (f": {detail}" if detail else "") + "\n")
        if len(failed) > SHOW_FAILED:
            _out(f"  ... and {len(failed) - SHOW_FAILED} more\n")
    launched = sum(1 for r in results if r.launched)
    if outcome.ending == "timeout":
        waiting = fw.plan.explained
        why = f"; still waiting to place: {waiting}" if waiting and fw.plan.pending else ""
        fail(
            f"--timeout {timeout:g}s: gave up waiting for {fw.plan.remaining} of {count} "
            f"task(s) (killed {launched} launched){why}",
            outcome.exit_code(),
        )
    if outcome.ending == "interrupted":
        fail(f"interrupted: killed {launched} launched task(s)", outcome.exit_code())
