"""Each HTTP route's class, once, for the master and the agent (``authn`` route classes).
A route not named here is ``READWRITE`` for POST and ``READONLY`` for GET."""

from __future__ import annotations

from corral.security.authn import (
    AGENT,
    EXECUTOR,
    FRAMEWORK,
    OPERATOR,
    PUBLIC,
    READONLY,
    READWRITE,
)

PUBLIC_PATHS = frozenset(
    {"/health", "/master/health", "/redirect", "/master/redirect", "/slave(1)/health", "/ping"}
)
SCHEDULER_PATHS = frozenset({"/api/v1/scheduler", "/master/api/v1/scheduler"})
OPERATOR_PATHS = frozenset(
    {"/api/v1", "/api/v1/operator", "/master/api/v1", "/master/api/v1/operator"}
)
EXECUTOR_PATHS = frozenset({"/api/v1/executor", "/slave(1)/api/v1/executor"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def classify(method: str, path: str) -> str:
    """The route class of one request."""
    if path in PUBLIC_PATHS:
        return PUBLIC
    if path in SCHEDULER_PATHS:
        return FRAMEWORK
    if path == "/master/agent":
        return AGENT
    if path in EXECUTOR_PATHS:
        return EXECUTOR
    if path in OPERATOR_PATHS and method == "POST":
        return OPERATOR
    if method.upper() in READ_METHODS:
        return READONLY
    return READWRITE
