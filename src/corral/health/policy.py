"""Health checks and checks, decided without a clock or a socket.

What a task's ``health_check`` (HealthCheck) and ``check`` (CheckInfo) mean, with Mesos's
defaults; when a probe is due; and what a probe's result means: report healthy, report
unhealthy, kill the task, or report a changed check status. The agent's runner
(``corral.agent.health_checks``) owns the timers and the probes and applies these decisions.

Mesos's rules (``shared/reference/mesos-v1-api.md`` §1, §4.4):

* The first probe comes ``delay_seconds`` after the task started, then one every
  ``interval_seconds`` after the previous one ended; a probe that takes longer than
  ``timeout_seconds`` failed.
* The grace period counts from the launch and includes the delay: failures inside it are
  ignored until the first success (after which there is no grace any more).
* Every unhealthy result is reported, a healthy one only when the task turns healthy.
* After ``consecutive_failures`` failures in a row the task is killed; its terminal update
  says ``healthy=false``.
* A check (CheckInfo) never kills: its result is reported whenever it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from corral.wire.tasks import (
    CheckInfo,
    CheckStatusInfo,
    CommandCheckStatus,
    CommandInfo,
    HealthCheck,
    HTTPCheckInfo,
    HTTPCheckStatus,
    TaskInfo,
    TCPCheckInfo,
    TCPCheckStatus,
)

DEFAULT_DELAY = 15.0
DEFAULT_INTERVAL = 10.0
DEFAULT_TIMEOUT = 20.0
DEFAULT_CONSECUTIVE_FAILURES = 3
DEFAULT_GRACE_PERIOD = 10.0
TYPES = ("COMMAND", "HTTP", "TCP")
HEALTH_REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
CHECK_REASON = "REASON_TASK_CHECK_STATUS_UPDATED"


class InvalidCheck(ValueError):
    """A health check or check that cannot run; the message names the field."""


@dataclass(frozen=True)
class Probe:
    """One kind of probe: run a command, GET a URL, or open a TCP connection."""

    type: str  # COMMAND | HTTP | TCP
    timeout: float
    command: CommandInfo | None = None
    port: int = 0
    path: str = "/"
    scheme: str = "http"


@dataclass(frozen=True)
class HealthPolicy:
    probe: Probe
    delay: float
    interval: float
    grace: float
    consecutive_failures: int


@dataclass(frozen=True)
class CheckPolicy:
    probe: Probe
    delay: float
    interval: float


@dataclass(frozen=True)
class ProbeResult:
    """What a probe saw. ``ok`` is the health verdict (exit 0, HTTP 200-399, connected);
    the other fields are what a check reports (unset: no answer, e.g. a timeout)."""

    ok: bool
    detail: str = ""
    exit_code: int | None = None
    status_code: int | None = None


# ------------------------------------------------------------------------ parsing


def _seconds(value: float | None, default: float, field: str) -> float:
    if value is None:
        return default
    if value < 0:
        raise InvalidCheck(f"{field}: must not be negative, got {value:g}")
    return float(value)


def _probe(
    where: str,
    type_: str | None,
    command: CommandInfo | None,
    http: HTTPCheckInfo | None,
    tcp: TCPCheckInfo | None,
    timeout: float,
) -> Probe:
    if type_ is None:  # Mesos < 1.2 frameworks set only one of the fields
        type_ = "COMMAND" if command else "HTTP" if http else "TCP" if tcp else None
    if type_ not in TYPES:
        raise InvalidCheck(f"{where}.type: expected one of {', '.join(TYPES)}, got {type_!r}")
    if type_ == "COMMAND":
        if command is None or not (command.value or command.arguments):
            raise InvalidCheck(f"{where}.command: a COMMAND check needs a command")
        return Probe(type=type_, timeout=timeout, command=command)
    target = http if type_ == "HTTP" else tcp
    if target is None:
        raise InvalidCheck(f"{where}.{type_.lower()}: a {type_} check needs it")
    if not 0 < target.port < 65536:
        raise InvalidCheck(f"{where}.{type_.lower()}.port: not a port: {target.port}")
    if http is not None and type_ == "HTTP":
        scheme = (http.scheme or "http").lower()
        if scheme not in ("http", "https"):
            raise InvalidCheck(f"{where}.http.scheme: expected http or https, got {scheme!r}")
        path = http.path or "/"
        if not path.startswith("/"):
            path = "/" + path
        return Probe(type=type_, timeout=timeout, port=http.port, path=path, scheme=scheme)
    return Probe(type=type_, timeout=timeout, port=target.port)


def health_policy(hc: HealthCheck, where: str = "health_check") -> HealthPolicy:
    """A task's HealthCheck with Mesos's defaults applied; InvalidCheck names a bad field."""
    timeout = _seconds(hc.timeout_seconds, DEFAULT_TIMEOUT, f"{where}.timeout_seconds")
    failures = hc.consecutive_failures
    if failures is not None and failures < 1:
        raise InvalidCheck(f"{where}.consecutive_failures: must be at least 1, got {failures}")
    return HealthPolicy(
        probe=_probe(where, hc.type, hc.command, hc.http, hc.tcp, timeout),
        delay=_seconds(hc.delay_seconds, DEFAULT_DELAY, f"{where}.delay_seconds"),
        interval=_seconds(hc.interval_seconds, DEFAULT_INTERVAL, f"{where}.interval_seconds"),
        grace=_seconds(
            hc.grace_period_seconds, DEFAULT_GRACE_PERIOD, f"{where}.grace_period_seconds"
        ),
        consecutive_failures=failures or DEFAULT_CONSECUTIVE_FAILURES,
    )


def check_policy(ci: CheckInfo, where: str = "check") -> CheckPolicy:
    """A task's CheckInfo with Mesos's defaults applied; InvalidCheck names a bad field."""
    timeout = _seconds(ci.timeout_seconds, DEFAULT_TIMEOUT, f"{where}.timeout_seconds")
    command = ci.command.command if ci.command is not None else None
    return CheckPolicy(
        probe=_probe(where, ci.type, command, ci.http, ci.tcp, timeout),
        delay=_seconds(ci.delay_seconds, DEFAULT_DELAY, f"{where}.delay_seconds"),
        interval=_seconds(ci.interval_seconds, DEFAULT_INTERVAL, f"{where}.interval_seconds"),
    )


def validate(task: TaskInfo) -> str | None:
    """Why a task's health check or check cannot run (for TASK_ERROR), or None."""
    try:
        if task.health_check is not None:
            health_policy(task.health_check)
        if task.check is not None:
            check_policy(task.check)
    except InvalidCheck as exc:
        return str(exc)
    return None


def probe_address(
    port: int, agent_ip: str, private_network: bool, port_mappings: dict[int, int]
) -> tuple[str, int]:
    """Where the agent reaches a task's ``port``. Mesos probes 127.0.0.1 inside the task's
    network namespace; corral probes from the agent's: a task on the host network is on the
    host's loopback; one in its own network namespace (``network/private``) is reached
    through the host port the agent maps to it on ``agent_ip``; a docker bridge container
    through the host port mapped to its container port."""
    if port in port_mappings:
        return "127.0.0.1", port_mappings[port]
    if private_network and agent_ip not in ("", "0.0.0.0"):
        return agent_ip, port
    return "127.0.0.1", port


# ----------------------------------------------------------------------- decisions


@dataclass
class Reported:
    """What the agent last reported of a task's probes (every later update carries it)."""

    healthy: bool | None = None
    check_status: CheckStatusInfo | None = None
    probing: bool = False  # the shell runs the task's probes
    killed: str | None = None  # the health check killed the task: its terminal message


@dataclass(frozen=True)
class HealthState:
    started: float  # when the task started running (the grace period counts from here)
    failures: int = 0  # consecutive failures counted (outside the grace period)
    healthy: bool | None = None  # what was last reported; None: nothing yet
    passed_once: bool = False  # a success ends the grace period for good
    killed: bool = False


@dataclass(frozen=True)
class ReportHealth:
    healthy: bool
    message: str


@dataclass(frozen=True)
class KillUnhealthy:
    message: str


HealthEffect = ReportHealth | KillUnhealthy


def first_probe_at(delay: float, started: float) -> float:
    return started + delay


def next_probe_at(interval: float, finished: float) -> float:
    """The next probe starts ``interval`` after the previous one ended (never in a burst)."""
    return finished + interval


def in_grace(policy: HealthPolicy, state: HealthState, now: float) -> bool:
    return not state.passed_once and now - state.started < policy.grace


def on_health_result(
    policy: HealthPolicy, state: HealthState, result: ProbeResult, now: float
) -> tuple[HealthState, list[HealthEffect]]:
    """The new state and what to do after one health probe ended at ``now``."""
    if state.killed:
        return state, []
    if result.ok:
        effects: list[HealthEffect] = []
        if state.healthy is not True:
            effects.append(ReportHealth(True, "health check passed"))
        return replace(state, failures=0, healthy=True, passed_once=True), effects
    if in_grace(policy, state, now):
        return state, []  # still starting: failures do not count yet
    failures = state.failures + 1
    message = f"health check failed {failures} time(s) in a row: {result.detail}".rstrip(": ")
    effects = [ReportHealth(False, message)]
    killed = failures >= policy.consecutive_failures
    if killed:
        effects.append(
            KillUnhealthy(
                f"Task killed: {failures} consecutive health check failures "
                f"(last: {result.detail or 'failed'})"
            )
        )
    return replace(state, failures=failures, healthy=False, killed=killed), effects


def check_status(probe: Probe, result: ProbeResult) -> CheckStatusInfo:
    """The CheckStatusInfo for one check result (unset fields: the probe got no answer)."""
    if probe.type == "COMMAND":
        return CheckStatusInfo(
            type="COMMAND", command=CommandCheckStatus(exit_code=result.exit_code)
        )
    if probe.type == "HTTP":
        return CheckStatusInfo(type="HTTP", http=HTTPCheckStatus(status_code=result.status_code))
    return CheckStatusInfo(type="TCP", tcp=TCPCheckStatus(succeeded=result.ok))


def on_check_result(
    probe: Probe, last: CheckStatusInfo | None, result: ProbeResult
) -> tuple[CheckStatusInfo, bool]:
    """The task's check status after one check, and whether it changed (then it is sent)."""
    status = check_status(probe, result)
    return status, status != last


def http_healthy(status_code: int) -> bool:
    """Mesos's built-in executors: 200-399 is healthy (``statuses`` is ignored)."""
    return 200 <= status_code < 400
