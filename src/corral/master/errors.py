"""Errors the master answers calls with."""

from __future__ import annotations


class CallError(Exception):
    """A call the master refuses; becomes an HTTP status with a message naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
