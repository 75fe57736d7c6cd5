"""Unit tests for corral.wire.recordio: framing and the incremental decoder."""

from __future__ import annotations

import random

import pytest

from corral.wire.recordio import Decoder, RecordIOError, frame


def test_frame() -> None:
    assert frame(b"hello") == b"5\nhello"
    assert frame(b"") == b"0\n"
    assert frame(b"a\nb") == b"3\na\nb"


def test_frame_counts_bytes_not_characters() -> None:
    data = "héllo ✓".encode()
    assert frame(data) == str(len(data)).encode() + b"\n" + data
    assert len(data) != len("héllo ✓")


def test_single_record() -> None:
    assert Decoder().feed(frame(b'{"type":"HEARTBEAT"}')) == [b'{"type":"HEARTBEAT"}']


def test_several_records_in_one_chunk() -> None:
    records = [b"one", b"", b"three\n3", b"{}" * 50]
    stream = b"".join(frame(r) for r in records)
    assert Decoder().feed(stream) == records


def test_empty_feed() -> None:
    d = Decoder()
    assert d.feed(b"") == []
    assert d.feed(frame(b"x")) == [b"x"]
    assert d.feed(b"") == []


def test_record_split_across_chunks() -> None:
    d = Decoder()
    assert d.feed(b"1") == []
    assert d.feed(b"1\nhello") == []
    assert d.feed(b" worl") == []
    assert d.feed(b"d") == [b"hello world"]
    assert d.feed(b"") == []


def test_split_inside_header_and_before_newline() -> None:
    d = Decoder()
    assert d.feed(b"12") == []
    assert d.feed(b"") == []
    assert d.feed(b"\n") == []
    assert d.feed(b"abcdefghijkl3") == [b"abcdefghijkl"]
    assert d.feed(b"\nxyz") == [b"xyz"]


def test_complete_record_then_partial() -> None:
    d = Decoder()
    assert d.feed(frame(b"first") + b"6\nsec") == [b"first"]
    assert d.feed(b"ond" + frame(b"third")) == [b"second", b"third"]


def test_byte_at_a_time() -> None:
    records = [b"alpha", b"", b"beta\n", b"x" * 123]
    stream = b"".join(frame(r) for r in records)
    d = Decoder()
    got: list[bytes] = []
    for i in range(len(stream)):
        got.extend(d.feed(stream[i : i + 1]))
    assert got == records


def test_random_chunking() -> None:
    rng = random.Random(2024)
    for _ in range(50):
        records = [rng.randbytes(rng.randint(0, 300)) for _ in range(rng.randint(1, 10))]
        stream = b"".join(frame(r) for r in records)
        d = Decoder()
        got: list[bytes] = []
        pos = 0
        while pos < len(stream):
            n = rng.randint(1, 64)
            got.extend(d.feed(stream[pos : pos + n]))
            pos += n
        assert got == records


def test_returned_records_are_bytes_and_independent() -> None:
    d = Decoder()
    (rec,) = d.feed(frame(b"abc"))
    assert type(rec) is bytes
    d.feed(frame(b"zzz"))
    assert rec == b"abc"


@pytest.mark.parametrize(
    "stream",
    [
        b"abc\nxyz",
        b"-1\n",
        b"+3\nabc",
        b" 3\nabc",
        b"3 \nabc",
        b"\nabc",
        b"0x10\n",
        b"1.5\n",
    ],
)
def test_bad_header_raises(stream: bytes) -> None:
    with pytest.raises(RecordIOError, match="bad record length"):
        Decoder().feed(stream)


def test_bad_header_after_good_record() -> None:
    d = Decoder()
    with pytest.raises(RecordIOError):
        d.feed(frame(b"ok") + b"nope\n")


def test_bad_header_split_across_chunks() -> None:
    d = Decoder()
    assert d.feed(b"1x") == []  # no newline yet: cannot tell
    with pytest.raises(RecordIOError):
        d.feed(b"\n")


def test_header_too_long_without_newline() -> None:
    d = Decoder()
    with pytest.raises(RecordIOError, match="too long"):
        d.feed(b"1" * 21)


def test_header_up_to_twenty_bytes_waits() -> None:
    d = Decoder()
    assert d.feed(b"0" * 19 + b"5") == []
    assert d.feed(b"\nhello") == [b"hello"]


def test_record_over_limit() -> None:
    d = Decoder(max_record=10)
    assert d.feed(frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(RecordIOError, match="exceeds"):
        d.feed(b"11\n")


def test_record_error_is_value_error() -> None:
    assert issubclass(RecordIOError, ValueError)
