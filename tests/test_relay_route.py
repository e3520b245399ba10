"""The relay's C hot path on its own: verdicts, fan-out by masks, queues that shed and count
frames as they leave, sequence stamping; and its refusals of careless arguments."""
from __future__ import annotations

import socket
import zlib

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.relay._route import OutQueue, Router, Sequencer, count_frames
from alphapulse_codec.relay.frames import EVERYTHING, mask
from alphapulse_codec.relay.server import type_codes
from alphapulse_codec.wire.enums import RelayCode
from frames import zeroed


def trades(count: int, source: int = 1, first: int = 1) -> bytes:
    rows = np.zeros(count, dtype=ap.dtype(ap.MessageType.Trade))
    rows["header"]["source"] = source
    rows["header"]["sequence"] = np.arange(first, first + count)
    rows["price"] = np.arange(count)
    return ap.encode_batch(rows)


def test_scan_judges_each_frame_and_keeps_a_partial_tail():
    router = Router(type_codes("market_data"), 1 << 20, True, True, True)
    bad_crc = bytearray(trades(1, first=3))
    bad_crc[40] ^= 1
    order = zeroed(ap.OrderRequest, sequence=9).to_bytes()
    data = trades(2) + bytes(bad_crc) + order + trades(1, first=2) + trades(1, first=7) + trades(1, first=8)[:50]
    count = router.scan(data, len(data))
    assert count == 6 and not router.fatal
    assert router.consumed == len(data) - 50
    notable = [(index, code, gap) for index, _, _, _, _, code, _, gap in router.notable_frames()]
    assert notable == [(2, RelayCode.BadChecksum, 0), (3, RelayCode.WrongDomain, 0),
                       (4, RelayCode.SequenceNotAfter, 0), (5, 0, 3)]
    assert router.next_sequence(1) == 8 and router.next_sequence(2) == 0


def test_scan_stops_at_bytes_that_cannot_be_a_frame():
    router = Router(type_codes("market_data"), 1 << 20, False, False, False)
    data = trades(3) + b"garbage!" * 8
    assert router.scan(data, len(data)) == 4
    assert router.fatal and router.consumed == 192
    assert router.notable_frames()[-1][5] == RelayCode.BadMagic


def test_take_copies_the_whole_frames_from_start_and_counts_offsets_from_there():
    router = Router(type_codes("market_data"), 1 << 20, False, False, True)
    taken_before = bytes(100)  # what a consumer took already, still at the buffer's front
    frames = trades(2) + trades(1, first=5)
    buffer = bytearray(taken_before + frames + trades(1, first=6)[:40])
    data = router.take(buffer, 100, len(buffer))
    assert data == frames and router.consumed == len(frames) and not router.fatal
    assert [(offset, gap) for _, offset, _, _, _, _, _, gap in router.notable_frames()] == \
        [(128, 3)]  # the jump from 2 to 5, at its offset in what was taken
    assert router.take(buffer, 100 + len(frames), len(buffer)) == b""  # a partial frame
    fresh = Router(type_codes("market_data"), 1 << 20, False, False, True)
    assert fresh.take(buffer, 100, len(buffer), 1) == trades(1)  # max_frames


def test_take_refuses_bounds_outside_the_buffer():
    router = Router(type_codes("market_data"), 1 << 20, False, False, False)
    buffer = bytearray(trades(2))
    for start, stop in ((-1, 64), (64, 32), (0, len(buffer) + 1)):
        with pytest.raises(ValueError, match=f"bytes {start} to {stop} are outside the buffer"
                                              f" of {len(buffer)}"):
            router.take(buffer, start, stop)


def test_fan_out_copies_what_each_queue_subscribed_to():
    router = Router(type_codes("market_data"), 1 << 20, False, False, False)
    data = trades(3, source=1) + trades(2, source=2) + trades(1, source=1, first=4)
    count = router.scan(data, len(data))
    everything = OutQueue(EVERYTHING, EVERYTHING)
    source_2 = OutQueue(EVERYTHING, mask([2], "sources"))
    quotes = OutQueue(mask([ap.MessageType.Quote], "types"), EVERYTHING)
    assert [router.fan_out(data, q, 0, count) for q in (everything, source_2, quotes)] == [6, 2, 0]
    assert (everything.frames, everything.pending_bytes) == (6, len(data))
    assert source_2.frames == 2 and source_2.pending_bytes == 128
    with pytest.raises(ValueError, match="not the one the last scan judged"):
        router.fan_out(data[:100], everything, 0, count)
    with pytest.raises(IndexError):
        router.fan_out(data, everything, 0, count + 1)


def test_a_queue_counts_frames_as_they_leave_and_sheds_whole_frames():
    frames = trades(2000)
    queue = OutQueue(EVERYTHING, EVERYTHING)
    queue.append_frames(frames)
    left, right = socket.socketpair()
    try:
        left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sent = queue.send(left.fileno())
        assert 0 < sent < len(frames)  # the socket takes a part: the rest waits
        assert queue.sent_frames == sent // 64 and queue.frames == 2000 - sent // 64
        received = right.recv(1 << 16)
        before = queue.frames
        lost, notices = queue.shed(2, 1 << 20)
        assert notices == b"" and sum(c for _, _, _, c in lost) == before - 2
        # a partly sent frame is kept whole: the stream stays frames
        while queue.pending_bytes:
            queue.send(left.fileno())
            received += right.recv(1 << 16)
        while len(received) % 64:
            received += right.recv(1 << 16)
    finally:
        left.close()
        right.close()
    kept = [received[i:i + 64] for i in range(0, len(received), 64)]
    assert all(frame in frames for frame in kept)
    assert len(kept) + queue.dropped_frames == 2000


def test_insert_front_puts_notices_before_frames_not_started():
    queue = OutQueue(EVERYTHING, EVERYTHING)
    queue.append_frames(trades(3))
    notice = trades(1, source=9, first=99)
    queue.insert_front(notice)
    left, right = socket.socketpair()
    try:
        queue.send(left.fileno())
        received = right.recv(1 << 16)
    finally:
        left.close()
        right.close()
    assert received == notice + trades(3)


def test_stamp_numbers_frames_per_source_and_reseals():
    sequencer = Sequencer()
    sequencer.resume(2, 50)
    data = bytearray(trades(2, source=1, first=7) + trades(2, source=2, first=7))
    assert sequencer.stamp(data, 1 << 20) == 4
    frames = list(ap.iter_frames(bytes(data)))  # every checksum verified
    assert [(m.header.source, m.header.sequence) for m in frames] == [(1, 1), (1, 2), (2, 50), (2, 51)]
    assert all(m.header.checksum == zlib.crc32(m.to_bytes()[32:], zlib.crc32(m.to_bytes()[:28]))
               for m in frames)
    untouched = bytearray(trades(1) + b"x")
    with pytest.raises(ap.TruncatedError):
        sequencer.stamp(untouched, 1 << 20)
    assert untouched == bytearray(trades(1) + b"x")


def test_count_frames_refuses_what_is_not_whole_frames():
    assert count_frames(trades(4), 1 << 20) == 4
    with pytest.raises(ap.BadMagicError, match="byte 64"):
        count_frames(trades(1) + bytes(64), 1 << 20)
    with pytest.raises(ap.FrameTooLargeError, match="over the relay's maximum of 63"):
        count_frames(trades(1), 63)
