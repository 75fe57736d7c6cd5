"""The base of every wire type: omit unset fields, ignore unknown ones."""

from __future__ import annotations

import msgspec


class Message(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A Mesos v1 JSON message: unset optional fields are omitted on encode."""


class ID(msgspec.Struct, frozen=True, omit_defaults=True):
    """Every Mesos id (FrameworkID, AgentID, TaskID, ExecutorID, OfferID) is ``{"value": s}``."""

    value: str


FrameworkID = ID
AgentID = ID
TaskID = ID
ExecutorID = ID
OfferID = ID


class View(msgspec.Struct, kw_only=True):
    """A read-only view (``/master/state``, the operator API): every field is encoded, empty
    lists and ``null`` included, except those left ``msgspec.UNSET`` (keys Mesos omits)."""
