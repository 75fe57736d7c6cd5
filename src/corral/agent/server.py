"""The agent process: HTTP API plus the agent's link to the master."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from corral.agent.agent import Agent, AgentConfig
from corral.agent.api import serve


async def run_agent(config: AgentConfig) -> None:
    """Run until SIGTERM/SIGINT. Tasks keep running under the launcher unless SIGUSR1
    asked for a full shutdown (kill every task), the way ``corral up`` stops a cluster."""
    agent = Agent(config)
    runner = await serve(agent, config.ip, config.port)
    await agent.start()
    scheme = config.security.scheme
    print(f"corral agent listening on {scheme}://{config.ip}:{config.port}", flush=True)
    stop = asyncio.Event()
    kill_tasks = False

    def shutdown_all() -> None:
        nonlocal kill_tasks
        kill_tasks = True
        stop.set()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, shutdown_all)
    try:
        stopped = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(agent.fatal.wait())
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        for t in (stopped, failed):
            t.cancel()
    finally:
        await agent.stop(kill_tasks=kill_tasks)
        with contextlib.suppress(Exception):
            await runner.cleanup()
    if agent.failed is not None:
        raise SystemExit(f"corral agent: {agent.failed}")
