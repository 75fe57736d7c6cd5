"""The rolling upgrade's order and its health decisions (pure).

`steps(inv, leader)` is the ordered plan: standby masters, the leader's handover, the old
leader, agents one at a time, then the built-in frameworks one host at a time.
`decide(step, version, before, seen, timeout)` says, from what the cluster reports after a
step, whether to continue, keep waiting, or stop with a reason naming the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from corral.deploy.inventory import FRAMEWORK_ROLES, Inventory

Kind = Literal[
    "upgrade-standby", "handover", "upgrade-old-leader", "upgrade-agent", "upgrade-framework"
]


@dataclass(frozen=True)
class Step:
    kind: Kind
    host: str  # the host's name in the inventory
    address: str
    port: int = 0  # where the step's service answers /version
    role: str = "master"  # the service the step restarts: master, agent, services or jobs

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"

    def describe(self) -> str:
        return {
            "upgrade-standby": "install the wheel, restart the standby master",
            "handover": "resign leadership (POST /master/resign)",
            "upgrade-old-leader": "install the wheel, restart the old leader",
            "upgrade-agent": "install the wheel, restart the agent process (tasks kept)",
            "upgrade-framework": f"install the wheel, restart the {self.role} framework "
            "(same framework id, tasks kept)",
        }[self.kind]


def steps(inv: Inventory, leader: str | None) -> list[Step]:
    """The order: standbys first, then the handover, the old leader, the agents one at a
    time, the built-in frameworks (services, then jobs) one host at a time. `leader` is the
    address of the leading master (None: every master is upgraded as a standby, no
    handover)."""
    c = inv.cluster
    masters = inv.with_role("master")
    mport = c.master_port
    out = [
        Step("upgrade-standby", h.name, h.address, mport) for h in masters if h.address != leader
    ]
    for h in (h for h in masters if h.address == leader):
        if len(masters) > 1:
            out.append(Step("handover", h.name, h.address, mport))
        out.append(Step("upgrade-old-leader", h.name, h.address, mport))
    out += [Step("upgrade-agent", h.name, h.address, c.agent_port, "agent")
            for h in inv.with_role("agent")]  # fmt: skip
    for role in FRAMEWORK_ROLES:
        port = c.framework_port(role)
        out += [Step("upgrade-framework", h.name, h.address, port, role)
                for h in inv.with_role(role)]  # fmt: skip
    return out


@dataclass(frozen=True)
class FrameworkSeen:
    """A framework as the leading master reports it."""

    id: str
    active: bool
    subscribed: float = 0.0  # when it last (re)subscribed, by the master's clock


@dataclass(frozen=True)
class Seen:
    """What the cluster reports after a step."""

    leader: str | None = None  # address of the leading master
    versions: dict[str, str] = field(default_factory=dict)  # ADDR:PORT -> corral version
    standby: frozenset[str] = frozenset()  # masters answering as standbys
    agent_ids: dict[str, str] = field(default_factory=dict)  # agent address -> agent id
    task_states: dict[str, str] = field(default_factory=dict)  # task id -> state
    frameworks: dict[str, FrameworkSeen] = field(default_factory=dict)  # by name
    ready: frozenset[str] = frozenset()  # framework roles with an instance leading and ready
    elapsed: float = 0.0  # seconds since the step's action


@dataclass(frozen=True)
class Before:
    """What held before the step, to compare with."""

    agent_id: str | None = None
    running_tasks: frozenset[str] = frozenset()
    framework: FrameworkSeen | None = None  # the step's framework, for upgrade-framework
    restarted: bool = True  # False: the service ran the wheel already and was left alone


# a task that was running is still running, or ended by itself with its update delivered
KEPT = frozenset({"TASK_RUNNING", "TASK_FINISHED"})

Verdict = tuple[Literal["continue", "wait", "stop"], str]


def decide(step: Step, version: str, before: Before, seen: Seen, timeout: float) -> Verdict:
    """Continue once the step's host is back as it must be; stop at once on a broken
    promise (a task not running any more, another agent or framework id); stop after
    `timeout` saying what never came."""
    lost = sorted(t for t in before.running_tasks if seen.task_states.get(t) not in KEPT)
    if lost and seen.leader is not None:
        states = ", ".join(f"{t}: {seen.task_states.get(t, 'unknown')}" for t in lost)
        return "stop", f"{step.host}: after {step.kind}, tasks not running any more ({states})"
    have = seen.versions.get(step.endpoint)
    if step.kind == "handover":
        if seen.leader is not None and seen.leader != step.address:
            if seen.versions.get(f"{seen.leader}:{step.port}") != version:
                return "stop", f"{step.host}: the new leader {seen.leader} is not at {version}"
            return "continue", f"leader now {seen.leader}"
        why = "no leader yet" if seen.leader is None else f"{step.address} still leads"
    elif step.kind in ("upgrade-standby", "upgrade-old-leader"):
        if have == version and step.address in seen.standby and seen.leader is not None:
            return "continue", f"back as a standby at {version}"
        why = f"master at {have or 'no answer'}, " + (
            "a standby" if step.address in seen.standby else "not a standby yet"
        )
    elif step.kind == "upgrade-agent":
        got = seen.agent_ids.get(step.address)
        if got is not None and before.agent_id is not None and got != before.agent_id:
            return "stop", (
                f"{step.host}: the agent came back as {got}, not {before.agent_id}: "
                "its tasks were not recovered"
            )
        if have == version and got is not None and seen.leader is not None:
            return "continue", f"re-registered as {got} at {version}"
        why = f"agent at {have or 'no answer'}, " + (
            "registered" if got is not None else "not registered yet"
        )
    else:
        return _framework(step, version, before, seen, timeout, have)
    if seen.elapsed > timeout:
        return "stop", f"{step.host}: {step.kind} not done after {timeout:g} s ({why})"
    return "wait", why


def _framework(step: Step, version: str, before: Before, seen: Seen, timeout: float,
               have: str | None) -> Verdict:  # fmt: skip
    """The framework came back when its instance on the host answers at the new version, the
    leader has it active, subscribed anew since the step began, with its old id, and an
    instance of it leads and is ready (the services framework: its tasks reconciled)."""
    fw, old = seen.frameworks.get(step.role), before.framework
    if fw is not None and old is not None and fw.id != old.id:
        return "stop", (
            f"{step.host}: the {step.role} framework came back as {fw.id}, not {old.id}: "
            "its tasks were left behind"
        )
    anew = (
        fw is not None
        and fw.active
        and (old is None or not before.restarted or fw.subscribed != old.subscribed)
    )
    if have == version and anew and seen.leader is not None and step.role in seen.ready:
        assert fw is not None
        return "continue", f"{step.role} re-registered as {fw.id} at {version}, ready"
    state = "not registered" if fw is None else (
        ("re-registered, " + ("ready" if step.role in seen.ready else "not ready yet"))
        if anew else "active, not re-registered yet" if fw.active else "not re-registered yet"
    )  # fmt: skip
    why = f"{step.role} at {have or 'no answer'}, {state}"
    if seen.elapsed > timeout:
        return "stop", f"{step.host}: {step.kind} not done after {timeout:g} s ({why})"
    return "wait", why
