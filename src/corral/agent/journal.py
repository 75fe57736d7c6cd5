"""An append-only journal of JSON records, one per line, compacted by rewriting it whole.

The agent keeps two: its checkpoint (tasks, executors) and its status updates. Writes are
buffered and flushed by the agent once per batch of outgoing messages; a crash can tear the
last line, which ``read`` stops at.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import msgspec

T = TypeVar("T")


class Journal(Generic[T]):
    def __init__(self, path: Path, record_type: Any) -> None:
        self.path = path
        self._encoder = msgspec.json.Encoder()
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(record_type)
        self._file: IO[bytes] | None = None

    def append(self, record: T) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=1 << 16)  # noqa: SIM115
        self._file.write(self._encoder.encode(record) + b"\n")

    def read(self) -> Iterator[T]:
        """Every record, in order, up to a torn last line."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for line in f:
                try:
                    yield self._decoder.decode(line)
                except msgspec.DecodeError:
                    return

    def rewrite(self, records: Iterable[T]) -> None:
        """Replace the journal with ``records`` (atomically)."""
        self.close()
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for record in records:
                f.write(self._encoder.encode(record) + b"\n")
        os.replace(tmp, self.path)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
