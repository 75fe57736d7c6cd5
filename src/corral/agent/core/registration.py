"""What the agent tells the master about itself: its AgentInfo and the (re-)registration
message with every framework, task and executor it holds."""

from __future__ import annotations

import msgspec

from corral.agent.core.state import AgentState
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.common import AgentInfo


def agent_info(state: AgentState) -> AgentInfo:
    info = state.settings.info
    return msgspec.structs.replace(info, id=ID(state.agent_id) if state.agent_id else None)


def register_message(state: AgentState) -> msg.RegisterAgent:
    tasks: list[msg.AgentTask] = []
    for fw in state.frameworks.values():
        # Ended tasks whose updates are not yet acknowledged are reported too, so the
        # master waits for those updates instead of declaring the tasks lost.
        unacked = [t for t in fw.completed if state.updates.has_pending(fw.framework_id, t.task_id)]
        for t in [*fw.tasks.values(), *unacked]:
            tasks.append(
                msg.AgentTask(
                    framework_id=ID(fw.framework_id),
                    task=t.info,
                    state=t.state,
                    executor_id=ID(t.executor_id) if t.executor_id else None,
                )
            )
    return msg.RegisterAgent(
        agent_info=agent_info(state),
        agent_id=ID(state.agent_id) if state.agent_id else None,
        address=state.settings.address,
        version=state.settings.version,
        frameworks=[fw.info for fw in state.frameworks.values()],
        tasks=tasks,
        executors=[
            msg.AgentExecutor(framework_id=ID(fw.framework_id), executor=ex.info)
            for fw in state.frameworks.values()
            for ex in fw.executors.values()
        ],
    )
