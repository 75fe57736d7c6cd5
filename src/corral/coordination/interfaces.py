"""The seams: the master's registry and a key-value store for frameworks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class RegistrySnapshot:
    """What a newly elected master recovers: the agents admitted before it."""

    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {hostname, address}
    unreachable: dict[str, float] = field(default_factory=dict)  # id -> when it became so
    gone: dict[str, float] = field(default_factory=dict)  # id -> when it was marked gone
    # role -> {"guarantees": {kind: x}, "limits": {kind: x}}; role -> weight
    quotas: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    maintenance: dict[str, Any] | None = None  # the maintenance schedule and DOWN machines


class Registry(Protocol):
    """The master's durable state. Writes are applied in order; ``load`` sees all of them."""

    def load(self) -> RegistrySnapshot: ...

    def admit_agent(self, agent_id: str, info: dict[str, Any]) -> None: ...

    def mark_unreachable(self, agent_id: str, when: float) -> None: ...

    def remove_agent(self, agent_id: str) -> None: ...

    def mark_gone(self, agent_id: str, when: float) -> None: ...

    def put_quota(self, role: str, quota: dict[str, dict[str, float]] | None) -> None:
        """Store a role's quota; None: it has none any more."""
        ...

    def put_weights(self, weights: dict[str, float]) -> None:
        """Store these roles' weights (others are kept)."""
        ...
    def save_maintenance(self, data: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class KeyValueStore(Protocol):
    """A framework's durable state: small values under string keys."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Put every (key, value), in one transaction where the store has them."""
        ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str = "") -> list[str]: ...

    def close(self) -> None: ...
