"""Quota at submission (pure): does a role's quota limit leave room for a job?

The quotas come from the master's operator call ``GET_QUOTA`` in Mesos 1.9's shape,
``{"type": "GET_QUOTA", "get_quota": {"status": {"configs": [{"role", "guarantees",
"limits"}]}}}``, each of ``guarantees``/``limits`` a map of resource name to
``{"value": x}`` (a bare number is read too). A job is refused when what the role's jobs
(of this front end) hold plus what the job needs is more than the role's **limit** for a
resource; a role without a quota, or a resource without a limit, is not limited.
"""

from __future__ import annotations

from typing import Any

import msgspec

RESOURCES = ("cpus", "mem", "disk", "gpus")
UNITS = {"cpus": "cpus", "mem": "MiB of mem", "disk": "MiB of disk", "gpus": "gpus"}


class QuotaConfig(msgspec.Struct, frozen=True):
    role: str
    guarantees: dict[str, float] = {}
    limits: dict[str, float] = {}


def _scalars(raw: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            if isinstance(value, dict):
                value = value.get("value", value.get("scalar", {}).get("value"))
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[str(name)] = float(value)
    elif isinstance(raw, list):  # a list of Resource objects (older Mesos shape)
        for r in raw:
            if isinstance(r, dict) and isinstance(r.get("scalar"), dict):
                out[str(r.get("name"))] = float(r["scalar"].get("value", 0))
    return out


def parse_get_quota(body: Any) -> dict[str, QuotaConfig]:
    """The configs of a GET_QUOTA answer, by role (an unexpected shape gives none)."""
    status = (body or {}).get("get_quota", {}).get("status", {}) if isinstance(body, dict) else {}
    out: dict[str, QuotaConfig] = {}
    for c in status.get("configs", []) if isinstance(status, dict) else []:
        if isinstance(c, dict) and isinstance(c.get("role"), str):
            out[c["role"]] = QuotaConfig(
                c["role"], _scalars(c.get("guarantees")), _scalars(c.get("limits"))
            )
    return out


def _amount(name: str, value: float) -> str:
    return f"{value:g} {UNITS.get(name, name)}"


def shortfall(
    role: str, need: dict[str, float], used: dict[str, float], quota: QuotaConfig | None
) -> str | None:
    """None if ``need`` fits in ``role``'s limits beside ``used``; else the refusal
    ("role web: needs 8 cpus more than its quota")."""
    if quota is None:
        return None
    over = []
    for name in RESOURCES:
        limit = quota.limits.get(name)
        if limit is None:
            continue
        excess = used.get(name, 0.0) + need.get(name, 0.0) - limit
        if excess > 1e-9:
            over.append(_amount(name, round(excess, 6)))
    if not over:
        return None
    return f"role {role}: needs {' and '.join(over)} more than its quota"


def add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in set(a) | set(b)}
