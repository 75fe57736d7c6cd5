"""Reliable status updates: checkpointed, forwarded one at a time per task, in order,
and resent with backoff until the framework acknowledges them (through the master)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from corral.agent.journal import Journal
from corral.agent.update_latency import LatencyHistogram
from corral.wire.agent import StatusUpdate
from corral.wire.base import ID

RETRY_MIN = 10.0
RETRY_MAX = 600.0


class AckRecord(msgspec.Struct, tag="ack", tag_field="k"):
    """The journal's record of an acknowledgement."""

    framework_id: str
    task_id: str
    uuid: bytes


class UpdateRecord(msgspec.Struct, tag="upd", tag_field="k"):
    """The journal's record of an update."""

    update: StatusUpdate


JournalRecord = AckRecord | UpdateRecord
Pending = dict[tuple[str, str], list[StatusUpdate]]


def replay(records: Iterable[JournalRecord]) -> tuple[Pending, dict[tuple[str, str], str]]:
    """A journal's records, in order → the updates still unacknowledged per (framework, task)
    and the latest state recorded for every task."""
    pending: Pending = {}
    latest: dict[tuple[str, str], str] = {}
    for rec in records:
        if isinstance(rec, UpdateRecord):
            key = (rec.update.framework_id.value, rec.update.status.task_id.value)
            pending.setdefault(key, []).append(rec.update)
            latest[key] = rec.update.status.state
        else:
            q = pending.get((rec.framework_id, rec.task_id))
            if q and q[0].status.uuid == rec.uuid:
                q.pop(0)
    return pending, latest


@dataclass
class _Stream:
    pending: deque[StatusUpdate] = field(default_factory=deque)
    sent_at: float | None = None
    interval: float = RETRY_MIN


class StatusUpdateManager:
    """Per-task queues of updates. ``send`` is called with the head update of a queue."""

    def __init__(
        self,
        journal: Path | None,
        send: Callable[[StatusUpdate], None],
        retry_min: float = RETRY_MIN,
        record: Callable[[JournalRecord], None] | None = None,
    ) -> None:
        """``journal``: the file this manager writes and recovers from; or, with ``record``,
        none: every record is handed to ``record`` (the agent core turns it into an effect)."""
        self.streams: dict[tuple[str, str], _Stream] = {}
        self._send = send
        self._retry_min = retry_min
        self._record = record
        self._journal: Journal[JournalRecord] | None = (
            Journal(journal, JournalRecord) if journal is not None else None
        )
        self.connected = False
        self.round_trips = LatencyHistogram()  # sent → acknowledged, in the callers' clock

    def recover(self) -> dict[tuple[str, str], str]:
        """Reload unacknowledged updates from the journal (compacting it) and queue them.

        Returns the latest state recorded for every task in the journal.
        """
        if self._journal is None:
            return {}
        pending, latest = replay(self._journal.read())
        self._journal.rewrite(UpdateRecord(update=u) for q in pending.values() for u in q)
        self.restore(pending)
        return latest

    def restore(self, pending: dict[tuple[str, str], list[StatusUpdate]]) -> None:
        """Queue updates recovered from a journal (see ``replay``), unsent until connected."""
        for key, q in pending.items():
            if q:
                self.streams[key] = _Stream(pending=deque(q), interval=self._retry_min)

    def reset(self) -> None:
        """Forget every update and truncate the journal (``--recover cleanup``)."""
        self.streams.clear()
        if self._journal is not None:
            self._journal.rewrite([])

    def _write(self, rec: JournalRecord) -> None:
        if self._record is not None:
            self._record(rec)
        elif self._journal is not None:
            self._journal.append(rec)

    def flush(self) -> None:
        if self._journal is not None:
            self._journal.flush()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def push(self, update: StatusUpdate, now: float) -> None:
        key = (update.framework_id.value, update.status.task_id.value)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = _Stream(interval=self._retry_min)
        stream.pending.append(update)
        self._write(UpdateRecord(update=update))
        if len(stream.pending) == 1:
            self._forward(stream, now)

    def _forward(self, stream: _Stream, now: float) -> None:
        if not self.connected or not stream.pending:
            stream.sent_at = None
            return
        stream.sent_at = now
        self._send(stream.pending[0])

    def acknowledge(
        self, framework_id: ID, task_id: ID, uuid: bytes, now: float
    ) -> StatusUpdate | None:
        """Drop the head update if ``uuid`` matches it; forward the next. Returns the acked one."""
        key = (framework_id.value, task_id.value)
        stream = self.streams.get(key)
        if stream is None or not stream.pending or stream.pending[0].status.uuid != uuid:
            return None
        acked = stream.pending.popleft()
        if stream.sent_at is not None:
            self.round_trips.observe(now - stream.sent_at)
        self._write(AckRecord(framework_id=key[0], task_id=key[1], uuid=uuid))
        stream.interval = self._retry_min
        if stream.pending:
            self._forward(stream, now)
        else:
            del self.streams[key]
        return acked

    def has_pending(self, framework_id: str, task_id: str) -> bool:
        return (framework_id, task_id) in self.streams

    def on_connected(self, now: float) -> None:
        """(Re-)registered with a master: send every queue's head again."""
        self.connected = True
        for stream in self.streams.values():
            stream.interval = self._retry_min
            self._forward(stream, now)

    def on_disconnected(self) -> None:
        self.connected = False

    def retry(self, now: float) -> None:
        """Resend heads unacknowledged for longer than their backoff interval."""
        if not self.connected:
            return
        for stream in self.streams.values():
            if stream.sent_at is not None and now - stream.sent_at >= stream.interval:
                stream.interval = min(stream.interval * 2, RETRY_MAX)
                self._forward(stream, now)

    def resend(self, framework_id: str, now: float) -> None:
        """Send the head update of each of this framework's queues again, now."""
        if not self.connected:
            return
        for (fid, _), stream in self.streams.items():
            if fid == framework_id:
                stream.interval = self._retry_min
                self._forward(stream, now)

    def drop_framework(self, framework_id: str) -> None:
        for key in [k for k in self.streams if k[0] == framework_id]:
            del self.streams[key]
