"""Public test harness: real corral processes on free ports."""

from corral.testing.cluster import (
    AgentProc,
    LocalCluster,
    free_port,
    http_json,
    pid_alive,
    stop_process,
    wait_until,
)

__all__ = [
    "AgentProc",
    "LocalCluster",
    "free_port",
    "http_json",
    "pid_alive",
    "stop_process",
    "wait_until",
]
