"""The operator API's logging calls (``/api/v1`` of the master and the agent), as Mesos's
``GET_LOGGING_LEVEL`` and ``SET_LOGGING_LEVEL``; levels are glog verbosities (0, 1, 2, 3)."""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from corral.wire.base import Message, View

LOGGING_CALLS = ("GET_LOGGING_LEVEL", "SET_LOGGING_LEVEL")


class CallType(Message, kw_only=True):
    """Just the type of an operator call (to pick who answers it)."""

    type: str = ""


class DurationInfo(Message, kw_only=True):
    nanoseconds: int


class SetLoggingLevel(Message, kw_only=True):
    level: int
    duration: DurationInfo


class LoggingCall(Message, kw_only=True):
    type: str
    set_logging_level: SetLoggingLevel | UnsetType = UNSET


class GetLoggingLevel(View, kw_only=True):
    level: int


class LoggingResponse(View, kw_only=True):
    type: str
    get_logging_level: GetLoggingLevel | UnsetType = UNSET
