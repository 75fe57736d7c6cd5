"""Service ports, as Marathon assigns them (pure).

A port definition (host networking) or port mapping (bridge) with port / servicePort 0
gets a service port from ``[10000, 20000)`` that no other app holds; load balancers and
clients read them (the task JSON's ``servicePorts``). Given ports are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from corral.frameworks.services import checks
from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.errors import Invalid

LOCAL_PORT_MIN = 10000
LOCAL_PORT_MAX = 20000  # exclusive, as Marathon's --local_port_max


def service_ports(app: AppDefinition) -> list[int]:
    """The app's service ports in portIndex order (0 where none is assigned yet)."""
    if checks.networking(app) == checks.BRIDGE:
        mappings = app.container.port_mappings if app.container else None
        return [pm.service_port for pm in mappings or []]
    return [pd.port for pd in app.port_definitions]


def assign_service_ports(
    app: AppDefinition,
    taken: Iterable[int],
    *,
    lo: int = LOCAL_PORT_MIN,
    hi: int = LOCAL_PORT_MAX,
    keep: Sequence[int] = (),
) -> AppDefinition:
    """``app`` with every 0 service port replaced by a free one of ``[lo, hi)`` (not in
    ``taken``: the other apps' service ports). ``keep``: the ports an earlier version of
    the app had, by index; a 0 at an index keeps that port (a new version of an app keeps
    its service ports). Raises Invalid when the range is used up."""
    others = set(taken)
    used = others | {p for p in service_ports(app) if p}
    kept = {i: p for i, p in enumerate(keep) if p and p not in used}
    used |= set(kept.values())
    free = (p for p in range(lo, hi) if p not in used)

    def pick(path: str) -> int:
        index = int(path.rsplit("/", 1)[1])
        if index in kept:
            return kept[index]
        port = next(free, None)
        if port is None:
            raise Invalid.one(path, f"no free service port left in [{lo}, {hi})")
        return port

    if checks.networking(app) == checks.BRIDGE and app.container is not None:
        mappings = [
            msgspec.structs.replace(pm, service_port=pick(f"/container/portMappings/{i}"))
            if pm.service_port == 0
            else pm
            for i, pm in enumerate(app.container.port_mappings or [])
        ]
        if app.container.port_mappings is None:
            return app
        return msgspec.structs.replace(
            app, container=msgspec.structs.replace(app.container, port_mappings=mappings)
        )
    if app.require_ports:
        return app  # the declared ports are the host ports; 0 stays "any"
    defs = [
        msgspec.structs.replace(pd, port=pick(f"/portDefinitions/{i}")) if pd.port == 0 else pd
        for i, pd in enumerate(app.port_definitions)
    ]
    return msgspec.structs.replace(app, port_definitions=defs)


__all__ = ["LOCAL_PORT_MAX", "LOCAL_PORT_MIN", "assign_service_ports", "service_ports"]
