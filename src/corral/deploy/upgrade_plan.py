"""The rolling upgrade's order and its health decisions (pure).

`steps(inv, leader)` is the ordered plan: standby masters, the leader's handover, the old
leader, then agents one at a time. `decide(step, seen)` says, from what the cluster reports
after a step, whether to continue, keep waiting, or stop with a reason naming the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from corral.deploy.inventory import Inventory

Kind = Literal["upgrade-standby", "handover", "upgrade-old-leader", "upgrade-agent"]


@dataclass(frozen=True)
class Step:
    kind: Kind
    host: str  # the host's name in the inventory
    address: str

    def describe(self) -> str:
        return {
            "upgrade-standby": "install the wheel, restart the standby master",
            "handover": "resign leadership (POST /master/resign)",
            "upgrade-old-leader": "install the wheel, restart the old leader",
            "upgrade-agent": "install the wheel, restart the agent process (tasks kept)",
        }[self.kind]


def steps(inv: Inventory, leader: str | None) -> list[Step]:
    """The order: standbys first, then the handover, the old leader, the agents one at a
    time. `leader` is the address of the leading master (None: every master is upgraded as
    a standby, no handover)."""
    masters = inv.with_role("master")
    out = [Step("upgrade-standby", h.name, h.address) for h in masters if h.address != leader]
    old = [h for h in masters if h.address == leader]
    for h in old:
        if len(masters) > 1:
            out.append(Step("handover", h.name, h.address))
        out.append(Step("upgrade-old-leader", h.name, h.address))
    out += [Step("upgrade-agent", h.name, h.address) for h in inv.with_role("agent")]
    return out


@dataclass(frozen=True)
class Seen:
    """What the cluster reports after a step."""

    leader: str | None = None  # address of the leading master
    versions: dict[str, str] = field(default_factory=dict)  # address -> corral version
    standby: frozenset[str] = frozenset()  # masters answering as standbys
    agent_ids: dict[str, str] = field(default_factory=dict)  # agent address -> agent id
    task_states: dict[str, str] = field(default_factory=dict)  # task id -> state
    elapsed: float = 0.0  # seconds since the step's action


@dataclass(frozen=True)
class Before:
    """What held before the step, to compare with."""

    agent_id: str | None = None
    running_tasks: frozenset[str] = frozenset()


Verdict = tuple[Literal["continue", "wait", "stop"], str]


def decide(step: Step, version: str, before: Before, seen: Seen, timeout: float) -> Verdict:
    """Continue once the step's host is back as it must be; stop at once on a broken
    promise (a task not running any more, another agent id); stop after `timeout` saying
    what never came."""
    lost = sorted(t for t in before.running_tasks if seen.task_states.get(t) != "TASK_RUNNING")
    if lost and seen.leader is not None:
        states = ", ".join(f"{t}: {seen.task_states.get(t, 'unknown')}" for t in lost)
        return "stop", f"{step.host}: after {step.kind}, tasks not running any more ({states})"
    have = seen.versions.get(step.address)
    if step.kind == "handover":
        if seen.leader is not None and seen.leader != step.address:
            if seen.versions.get(seen.leader) != version:
                return "stop", f"{step.host}: the new leader {seen.leader} is not at {version}"
            return "continue", f"leader now {seen.leader}"
        why = "no leader yet" if seen.leader is None else f"{step.address} still leads"
    elif step.kind in ("upgrade-standby", "upgrade-old-leader"):
        if have == version and step.address in seen.standby and seen.leader is not None:
            return "continue", f"back as a standby at {version}"
        why = f"master at {have or 'no answer'}, " + (
            "a standby" if step.address in seen.standby else "not a standby yet"
        )
    else:
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
    if seen.elapsed > timeout:
        return "stop", f"{step.host}: {step.kind} not done after {timeout:g} s ({why})"
    return "wait", why
