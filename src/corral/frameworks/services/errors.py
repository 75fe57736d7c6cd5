"""Marathon's validation errors: ``Invalid`` with one ``Detail`` per bad field (pure).

``{"message": "Object is not valid", "details": [{"path": "/cpus", "errors": ["..."]}]}``
is Marathon's 422 body; ``Invalid JSON`` (malformed input) is its 400.
"""

from __future__ import annotations

import msgspec

NOT_VALID = "Object is not valid"
INVALID_JSON = "Invalid JSON"


class Detail(msgspec.Struct):
    """One bad field: its JSON path (``/upgradeStrategy/minimumHealthCapacity``, ``/`` for
    the whole object) and what is wrong with it."""

    path: str
    errors: list[str]


class Invalid(ValueError):
    """A document that is not a valid definition; ``details`` name every bad field."""

    def __init__(self, details: list[Detail], message: str = NOT_VALID) -> None:
        super().__init__(message)
        self.message = message
        self.details = merge(details)

    def __str__(self) -> str:
        parts = "; ".join(f"{d.path}: {', '.join(d.errors)}" for d in self.details)
        return f"{self.message}: {parts}" if parts else self.message

    def body(self) -> dict[str, object]:
        """Marathon's error JSON."""
        return {
            "message": self.message,
            "details": [{"path": d.path, "errors": list(d.errors)} for d in self.details],
        }

    @classmethod
    def one(cls, path: str, error: str, message: str = NOT_VALID) -> Invalid:
        return cls([Detail(path, [error])], message)


def merge(details: list[Detail]) -> list[Detail]:
    """One Detail per path (in first-seen order), each error once."""
    by_path: dict[str, list[str]] = {}
    for d in details:
        errs = by_path.setdefault(d.path, [])
        errs.extend(e for e in d.errors if e not in errs)
    return [Detail(p, e) for p, e in by_path.items()]


def status_of(inv: Invalid) -> int:
    """The HTTP status for ``inv``: 400 for malformed JSON, 422 for an invalid object."""
    return 400 if inv.message == INVALID_JSON else 422


__all__ = ["INVALID_JSON", "NOT_VALID", "Detail", "Invalid", "merge", "status_of"]
