"""A small world for the agent core's unit tests: an AgentState with deterministic ids,
wire builders, and readers of the effects ``handle`` returns. No processes, no event loop."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from corral.agent.core import effects as fx
from corral.agent.core import events as ev
from corral.agent.core.handle import handle
from corral.agent.core.state import AgentSettings, AgentState
from corral.agent.status_updates import UpdateRecord
from corral.resources import parse
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.common import AgentInfo, Capability, DurationInfo, FrameworkInfo, MasterInfo
from corral.wire.tasks import URI, CommandInfo, ExecutorInfo, KillPolicy, TaskInfo, TaskStatus

E = TypeVar("E")
WORK = Path("/work-dir")
FID = "fw-1"


def make_state(**settings: float) -> AgentState:
    counter = itertools.count(1)
    uuids = itertools.count(1)
    return AgentState(
        settings=AgentSettings(
            work_dir=WORK,
            info=AgentInfo(
                hostname="host-a", port=5051, resources=parse("cpus:4;mem:1024").to_wire()
            ),
            address="127.0.0.1:5051",
            version="test",
            **settings,  # type: ignore[arg-type]
        ),
        container_ids=lambda: f"c{next(counter)}",
        update_uuids=lambda: next(uuids).to_bytes(16, "big"),
    )


def framework(*capabilities: str, fid: str = FID) -> FrameworkInfo:
    return FrameworkInfo(
        user="u",
        name="fw",
        id=ID(fid),
        capabilities=[Capability(type=c) for c in capabilities],
    )


def grace(seconds: float) -> KillPolicy:
    return KillPolicy(grace_period=DurationInfo(nanoseconds=int(seconds * 1e9)))


def command_task(tid: str, cmd: str = "true", *, uris: bool = False, **kw: object) -> TaskInfo:
    return TaskInfo(
        name=tid,
        task_id=ID(tid),
        agent_id=ID("agent-1"),
        resources=parse("cpus:0.1;mem:32").to_wire(),
        command=CommandInfo(value=cmd, uris=[URI(value="http://x/f")] if uris else []),
        **kw,  # type: ignore[arg-type]
    )


def executor_info(eid: str = "ex-1", cmd: str | None = "run-executor") -> ExecutorInfo:
    return ExecutorInfo(
        executor_id=ID(eid),
        command=CommandInfo(value=cmd) if cmd is not None else None,
        resources=parse("cpus:0.1;mem:32").to_wire(),
    )


def executor_task(tid: str, einfo: ExecutorInfo) -> TaskInfo:
    return TaskInfo(
        name=tid,
        task_id=ID(tid),
        agent_id=ID("agent-1"),
        resources=parse("cpus:0.5;mem:64").to_wire(),
        executor=einfo,
    )


class Agent:
    """Drives one AgentState: ``feed`` events at a controlled clock, keep every effect."""

    def __init__(self, state: AgentState | None = None, now: float = 1000.0) -> None:
        self.state = state or make_state()
        self.now = now
        self.log: list[fx.Effect] = []

    def feed(self, event: ev.Event) -> list[fx.Effect]:
        out = handle(self.state, event, self.now)
        self.log.extend(out)
        return out

    def master(self, m: msg.MasterToAgent) -> list[fx.Effect]:
        return self.feed(ev.FromMaster(m))

    def register(self, agent_id: str = "agent-1") -> list[fx.Effect]:
        return self.master(
            msg.Registered(agent_id=ID(agent_id), master_info=MasterInfo(id="m", ip=0))
        )

    def run(self, task: TaskInfo, fw: FrameworkInfo | None = None) -> list[fx.Effect]:
        return self.master(msg.RunTask(framework_info=fw or framework(), task=task))

    def container_of(self, tid: str, fid: str = FID) -> str:
        cid = self.state.frameworks[fid].tasks[tid].container_id
        assert cid is not None
        return cid

    def start(self, tid: str, pid: int = 4242) -> str:
        """Sandbox ready, container started: the task runs."""
        cid = self.container_of(tid)
        self.feed(ev.SandboxReady(cid))
        self.feed(ev.ContainerStarted(cid, pid))
        return cid

    def ack(self, update: msg.StatusUpdate) -> list[fx.Effect]:
        assert update.status.uuid is not None
        return self.master(
            msg.AcknowledgeUpdate(
                framework_id=update.framework_id,
                task_id=update.status.task_id,
                uuid=update.status.uuid,
            )
        )


def of_type(effects: Iterable[fx.Effect], kind: type[E]) -> list[E]:
    return [e for e in effects if isinstance(e, kind)]


def sent_updates(effects: Iterable[fx.Effect]) -> list[msg.StatusUpdate]:
    return [
        e.message
        for e in of_type(effects, fx.SendToMaster)
        if isinstance(e.message, msg.StatusUpdate)
    ]


def states(effects: Iterable[fx.Effect]) -> list[tuple[str, str]]:
    """(task id, state) of every status update forwarded to the master."""
    return [(u.status.task_id.value, u.status.state) for u in sent_updates(effects)]


def journaled(effects: Iterable[fx.Effect]) -> list[tuple[str, str]]:
    """(task id, state) of every update written to the status-update journal."""
    return [
        (r.update.status.task_id.value, r.update.status.state)
        for r in (e.record for e in of_type(effects, fx.WriteUpdateJournal))
        if isinstance(r, UpdateRecord)
    ]


def executor_events(effects: Iterable[fx.Effect]) -> list[str]:
    return [e.event.type for e in of_type(effects, fx.SendToExecutor)]


def update_status(tid: str, state: str, uuid: int) -> TaskStatus:
    return TaskStatus(task_id=ID(tid), state=state, uuid=uuid.to_bytes(16, "big"))
