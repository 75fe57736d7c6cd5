"""`corral upgrade`: the SSH/HTTP shell of the rolling upgrade (docs/deploy.md, Upgrading).

The order and the decisions are `upgrade_plan`'s (pure); each host step is deploy's own
probe, plan and apply (`remote`) with the new wheel, restricted to the step's service
(`plan.restrict`): the host gets the wheel and a restart of that service only, through its
supervisor or systemd.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

from corral.deploy import remote
from corral.deploy.health import framework_endpoints
from corral.deploy.inventory import Inventory
from corral.deploy.plan import StartService, plan, restrict
from corral.deploy.render import desired
from corral.deploy.upgrade_plan import Before, FrameworkSeen, Seen, Step, decide, steps

POLL = 0.3


def wheel_version(wheel_file: Path) -> str:
    """The version in a wheel's file name (PEP 427: name-version-...)."""
    parts = wheel_file.name.split("-")
    if len(parts) < 5 or not wheel_file.name.endswith(".whl"):
        raise ValueError(f"{wheel_file.name} is not a wheel's file name (name-version-…whl)")
    return parts[1]


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    try:
        async with session.get(url, allow_redirects=False) as resp:
            doc = await resp.json(content_type=None) if resp.status == 200 else None
            return resp.status, doc
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return 0, None


async def observe(inv: Inventory, session: aiohttp.ClientSession, started: float) -> Seen:
    mport, aport = inv.cluster.master_port, inv.cluster.agent_port
    masters = [h.address for h in inv.with_role("master")]
    endpoints = [f"{a}:{mport}" for a in masters]
    endpoints += [f"{h.address}:{aport}" for h in inv.with_role("agent")]
    roles = framework_endpoints(inv)
    endpoints += [e for _, e in roles]
    states = await asyncio.gather(
        *(_get(session, f"http://{a}:{mport}/master/state") for a in masters)
    )
    versions = await asyncio.gather(*(_get(session, f"http://{e}/version") for e in endpoints))
    leader, doc, standby = None, None, set()
    for address, (status, got) in zip(masters, states, strict=True):
        if status == 200 and isinstance(got, dict) and leader is None:
            leader, doc = address, got
        elif status in (307, 503):
            standby.add(address)
    seen_versions = {
        e: str(v["corral_version"])
        for e, (s, v) in zip(endpoints, versions, strict=True)
        if s == 200 and isinstance(v, dict) and "corral_version" in v
    }
    answers = dict(zip(endpoints, versions, strict=True))
    ready = frozenset(
        role for role, e in roles if isinstance(answers[e][1], dict) and answers[e][1].get("ready")
    )
    agent_ids: dict[str, str] = {}
    tasks: dict[str, str] = {}
    frameworks: dict[str, FrameworkSeen] = {}
    if doc is not None:
        for a in doc.get("slaves", []):
            if a.get("active", True):
                agent_ids[str(a.get("hostname"))] = str(a.get("id"))
        for fw in doc.get("frameworks", []):
            for t in [*fw.get("completed_tasks", []), *fw.get("tasks", [])]:
                tasks[str(t.get("id"))] = str(t.get("state"))
            name = str(fw.get("name"))
            if name not in frameworks or fw.get("active"):
                when = fw.get("reregistered_time") or fw.get("registered_time") or 0.0
                frameworks[name] = FrameworkSeen(str(fw.get("id")), bool(fw.get("active")),
                                                 float(when))  # fmt: skip
    return Seen(leader, seen_versions, frozenset(standby), agent_ids, tasks, frameworks,
                ready, time.monotonic() - started)  # fmt: skip


async def _before(inv: Inventory, session: aiohttp.ClientSession, step: Step,
                  now: Seen) -> Before:  # fmt: skip
    """What must hold after the step: an agent's id and its running tasks; a framework's id
    and its running tasks; nothing about tasks for masters (a new leader learns the tasks
    from the agents re-registering)."""
    if step.kind == "upgrade-agent":
        aid = now.agent_ids.get(step.address)
        mine = await _tasks_on(inv, session, now.leader, agent_id=aid) if aid else frozenset()
        return Before(aid, mine)
    if step.kind == "upgrade-framework":
        fw = now.frameworks.get(step.role)
        mine = await _tasks_on(inv, session, now.leader, framework_id=fw.id) if fw else frozenset()
        return Before(framework=fw, running_tasks=mine)
    return Before()


async def _install_and_restart(inv: Inventory, step: Step, wheel_file: Path, digest: str,
                               say: Any) -> bool:  # fmt: skip
    """Carries out the step's part of the host's plan; False: nothing to restart."""
    host = next(h for h in inv.hosts if h.name == step.host)
    conn = await remote.connect(host)
    async with conn:
        seen = await remote.observe(conn, inv, host, digest)
        want = desired(inv, host, digest, systemd=seen.systemd)
        actions = restrict(plan(want, seen), want, frozenset({step.role}))
        if not actions:
            say("already at this wheel")
        await remote.apply(conn, want, actions, wheel_file, inv.cluster.pip_args, say)
    return any(isinstance(a, StartService) for a in actions)


async def upgrade(inv: Inventory, wheel_file: Path, digest: str, version: str, *,
                  step_timeout: float, console: Console) -> int:  # fmt: skip
    """0: every step done and healthy; 1: a step failed (printed, naming host and step)."""

    def sayer(name: str) -> Any:
        return lambda text: console.print(f"[bold cyan]{name:<10}[/] {text}", highlight=False)

    timeout = aiohttp.ClientTimeout(total=3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        first = await observe(inv, session, time.monotonic())
        if first.leader is None:
            console.print("[red]stopped[/]: no master leads; nothing was changed")
            return 1
        todo = steps(inv, first.leader)
        console.print(f"leader {first.leader}; {len(todo)} step(s) to version {version}")
        began = time.monotonic()
        for step in todo:
            say = sayer(step.host)
            now = await observe(inv, session, time.monotonic())
            before = await _before(inv, session, step, now)
            say(f"{step.kind}: {step.describe()}")
            started = time.monotonic()
            try:
                if step.kind == "handover":
                    url = f"http://{step.address}:{inv.cluster.master_port}/master/resign"
                    async with session.post(url, allow_redirects=False) as resp:
                        if resp.status != 200:
                            text = (await resp.text()).strip()
                            console.print(f"[red]stopped[/]: {step.host}: handover refused "
                                          f"({resp.status}: {text})")  # fmt: skip
                            return 1
                else:
                    restarted = await _install_and_restart(inv, step, wheel_file, digest, say)
                    before = replace(before, restarted=restarted)
            except (remote.RemoteError, OSError, aiohttp.ClientError) as exc:
                console.print(f"[red]stopped[/]: {step.host}: {step.kind} failed: {exc}",
                              highlight=False)  # fmt: skip
                return 1
            said = ""
            while True:
                seen = await observe(inv, session, started)
                verdict, why = decide(step, version, before, seen, step_timeout)
                if verdict == "stop":
                    console.print(f"[red]stopped[/]: {why}", highlight=False)
                    return 1
                if verdict == "continue":
                    say(f"[green]ok[/] ({why}, {time.monotonic() - started:.2f} s)")
                    break
                if why != said:
                    say(f"waiting: {why}")
                    said = why
                await asyncio.sleep(POLL)
        console.print(f"[green]upgraded[/] to {version} in {time.monotonic() - began:.1f} s")
    return 0


async def _tasks_on(inv: Inventory, session: aiohttp.ClientSession, leader: str | None,
                    agent_id: str | None = None, framework_id: str | None = None,
                    ) -> frozenset[str]:  # fmt: skip
    """The running tasks of one agent, or of one framework, as the leader reports them."""
    if leader is None:
        return frozenset()
    status, doc = await _get(session, f"http://{leader}:{inv.cluster.master_port}/master/state")
    if status != 200 or not isinstance(doc, dict):
        return frozenset()
    return frozenset(
        str(t.get("id"))
        for fw in doc.get("frameworks", [])
        if framework_id is None or str(fw.get("id")) == framework_id
        for t in fw.get("tasks", [])
        if t.get("state") == "TASK_RUNNING"
        and (agent_id is None or str(t.get("slave_id")) == agent_id)
    )
