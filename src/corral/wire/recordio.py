"""RecordIO framing: ``<length in bytes>\\n<data>``, nothing between records (sans-IO)."""

from __future__ import annotations


def frame(data: bytes) -> bytes:
    """Frame one record."""
    return b"%d\n%s" % (len(data), data)


class RecordIOError(ValueError):
    """The byte stream is not valid RecordIO."""


class Decoder:
    """Incremental RecordIO decoder: feed bytes, get complete records."""

    def __init__(self, max_record: int = 64 << 20) -> None:
        self._buf = bytearray()
        self._max = max_record

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buf += chunk
        out: list[bytes] = []
        buf = self._buf
        pos = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if len(buf) - pos > 20:
                    raise RecordIOError("record length header too long")
                break
            header = bytes(buf[pos:nl])
            if not header.isdigit():
                raise RecordIOError(f"bad record length {header[:20]!r}")
            length = int(header)
            if length > self._max:
                raise RecordIOError(f"record of {length} bytes exceeds the limit")
            end = nl + 1 + length
            if end > len(buf):
                break
            out.append(bytes(buf[nl + 1 : end]))
            pos = end
        if pos:
            del buf[:pos]
        return out
