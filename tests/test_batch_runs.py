"""Runs of frames of one fixed-size kind take the run path of batch decode (header kinds
compared, checksums computed several frames at a time, rows copied a block at a time, offsets
written when first read). Its results equal those of reading every frame on its own (runs=False), whatever
the damage, on every CRC path this CPU has."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import BadStretch, BatchResult, decode_batch, encode_batch
from alphapulse_codec.samples.synthetic import generate
from alphapulse_codec.wire import _codec
from alphapulse_codec.wire._codec import BatchDecoder

KINDS = (ap.MessageType.Trade, ap.MessageType.Quote, ap.MessageType.Heartbeat)


def _frames(message_type: ap.MessageType, count: int, seed: int, tlv: bytes = b"") -> bytes:
    """`count` sealed frames of the type, each with its own sequence and random body bytes."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(count, dtype=ap.dtype(message_type))
    raw = rows.view(np.uint8).reshape(count, -1)
    raw[:, 32:] = rng.integers(0, 256, raw[:, 32:].shape, dtype=np.uint8)
    rows["header"]["sequence"] = np.arange(count) + seed * 1000
    rows["header"]["timestamp"] = 1_700_000_000_000_000_000 + np.arange(count)
    if "tlv_offset" in rows.dtype.names:
        rows["tlv_offset"] = rows["tlv_length"] = 0
    return encode_batch(rows, message_type, tails=[tlv] * count if tlv else None)


def _capture(segments: list[tuple[int, int]], seed: int = 0) -> bytes:
    """Runs of (kind index, frames) one after the other; kind 3 is Trades carrying a TLV, of
    one size but not of a fixed kind."""
    parts = []
    for i, (kind, count) in enumerate(segments):
        if kind == 3:
            tlv = bytes([9, 6]) + b"v" * 6  # a raw TLV of type 9
            parts.append(_frames(ap.MessageType.Trade, count, seed + i, tlv=tlv))
        else:
            parts.append(_frames(KINDS[kind], count, seed + i))
    return b"".join(parts)


def _decode(data: bytes, runs: bool, **options) -> tuple[BatchResult, int]:
    decoder = BatchDecoder(runs=runs, **options)
    consumed = decoder.feed(data, 0, True)
    return BatchResult(*decoder.take()), consumed


def _content(result: BatchResult) -> list:
    """Everything a decode gives: per (type, version) the row bytes, offsets and tails; the
    bad stretches."""
    groups = [(key, group.rows.tobytes(), group.offsets.tolist(), bytes(group.tails),
               group.tail_index.tolist()) for key, group in sorted(result._groups.items())]
    return [groups, result.errors]


def _same_either_way(data: bytes, **options) -> BatchResult:
    fast, consumed = _decode(data, True, **options)
    reference, reference_consumed = _decode(data, False, **options)
    assert _content(fast) == _content(reference)
    assert consumed == reference_consumed
    return fast


def _damaged(data: bytes, at: int, how: str) -> bytes:
    broken = bytearray(data)
    if how == "body":
        broken[at + 40] ^= 0x10          # a byte the checksum covers
    elif how == "checksum":
        broken[at + 29] ^= 0x01
    elif how == "magic":
        broken[at] ^= 0xFF
    elif how == "type":
        broken[at + 4] = 250             # a type no schema reads
    elif how == "version":
        broken[at + 5] = 200
    elif how == "size":
        broken[at + 8:at + 12] = (5000).to_bytes(4, "little")
    elif how == "flags":
        broken[at + 6] ^= 0x01           # a header byte outside the kind, which the checksum covers
    elif how == "garbage":
        return bytes(broken[:at]) + b"\xef\xbe\xad\xde" + bytes(37) + bytes(broken[at:])
    return bytes(broken)


def test_a_long_run_keeps_every_frame_with_its_offset():
    data = _frames(ap.MessageType.Trade, 5000, seed=1)
    result = _same_either_way(data)
    assert result.errors == [] and len(result) == 5000
    assert result[ap.MessageType.Trade].tobytes() == data
    assert result.offsets(ap.MessageType.Trade).tolist() == list(range(0, len(data), 64))


@pytest.mark.parametrize("how", ["body", "checksum", "magic", "type", "version", "size",
                                 "flags", "garbage"])
@pytest.mark.parametrize("frame", [0, 1, 3, 4, 255, 256, 257, 1000, 1999])
def test_damage_in_a_run_loses_that_frame_alone(how, frame):
    data = _frames(ap.MessageType.Trade, 2000, seed=2)
    result = _same_either_way(_damaged(data, frame * 64, how))
    [stretch] = result.errors
    assert stretch.offset == frame * 64  # the error names where the bad bytes begin
    kept = result.offsets(ap.MessageType.Trade).tolist()
    if how == "garbage":
        assert stretch.length == 41 and len(result) == 2000
        assert result[ap.MessageType.Trade].tobytes() == data
    else:
        assert stretch.length == 64 and len(result) == 1999 and frame * 64 not in kept


def test_a_bad_checksum_mid_run_is_reported_at_its_offset_and_the_run_goes_on():
    data = _frames(ap.MessageType.Trade, 3000, seed=3)
    result = _same_either_way(_damaged(data, 1234 * 64, "body"))
    assert result.errors == [BadStretch(1234 * 64, 64, "checksum_mismatch")]
    rows = result[ap.MessageType.Trade]
    assert rows["header"]["sequence"].tolist() == [3000 + i for i in range(3000) if i != 1234]


def test_without_verification_a_bad_checksum_in_a_run_is_kept():
    data = _damaged(_frames(ap.MessageType.Trade, 600, seed=4), 300 * 64, "body")
    result = _same_either_way(data, verify=False)
    assert len(result) == 600 and result.errors == []
    assert result[ap.MessageType.Trade].tobytes() == data


def test_a_run_cut_at_every_byte_of_its_last_frames():
    data = _frames(ap.MessageType.Quote, 9, seed=5)
    size = len(data) // 9
    for cut in range(len(data) - 2 * size, len(data) + 1):
        result = _same_either_way(data[:cut])
        assert len(result) == cut // size
        if cut % size:
            assert result.errors == [BadStretch(cut - cut % size, cut % size, "truncated")]


def test_a_stream_cut_inside_a_run_waits_for_the_rest():
    data = _frames(ap.MessageType.Trade, 100, seed=6)
    for cut in (64 * 50 + 1, 64 * 50 + 31, 64 * 51 - 1):
        decoder = BatchDecoder()
        assert decoder.feed(data[:cut], 0, False) == 64 * 50
        assert decoder.feed(data[64 * 50:], 64 * 50, True) == len(data) - 64 * 50
        result = BatchResult(*decoder.take())
        assert result[ap.MessageType.Trade].tobytes() == data and result.errors == []


@pytest.mark.parametrize("lengths", [[1, 2, 3, 4, 5, 300, 1, 4, 3], [4] * 30, [257, 1, 256, 2]])
def test_runs_of_mixed_kinds_and_lengths(lengths):
    segments = [(i % 4, count) for i, count in enumerate(lengths)]
    data = _capture(segments, seed=7)
    result = _same_either_way(data)
    assert len(result) == sum(lengths) and result.errors == []
    _same_either_way(data, types=[ap.MessageType.Quote])
    _same_either_way(data, verify=False)


def test_the_watched_type_stops_the_decode_after_each_of_its_frames():
    data = _capture([(0, 10), (1, 10), (0, 3), (2, 20)], seed=8)
    seen = {True: [], False: []}
    for runs in (True, False):
        decoder = BatchDecoder(runs=runs, watch_type=int(ap.MessageType.Trade),
                               on_watched=lambda frame, offset, runs=runs:
                               seen[runs].append((offset, frame)))
        assert decoder.feed(data, 0, True) == len(data)
    assert seen[True] == seen[False] and len(seen[True]) == 13


def test_a_synthetic_session_and_its_damage():
    data = bytearray(generate(20000, seed=9))
    assert _same_either_way(bytes(data)).errors == []
    rng = random.Random(9)
    for at in rng.sample(range(len(data)), 40):
        data[at] ^= 1 << rng.randrange(8)
    result = _same_either_way(bytes(data))
    assert result.errors


def test_an_input_large_enough_for_streamed_rows():
    # 8 MiB and more write the rows with non-temporal stores, less with the cache's
    data = _capture([(0, 70000), (1, 3), (0, 70000), (2, 5000)], seed=10)
    assert len(data) >= 8 << 20
    data = _damaged(data, 64 * 33333, "body")
    result = _same_either_way(data)
    assert result.errors == [BadStretch(64 * 33333, 64, "checksum_mismatch")]
    trades = _frames(ap.MessageType.Trade, 70000, seed=10)
    assert result[ap.MessageType.Trade][:33333].tobytes() == trades[:64 * 33333]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 40)), min_size=1,
                         max_size=8),
       damage=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                 st.sampled_from(["body", "checksum", "magic", "type", "size",
                                                  "garbage", "cut"])), max_size=4),
       verify=st.booleans())
def test_any_runs_with_any_damage(segments, damage, verify):
    data = _capture(segments, seed=11)
    for where, how in damage:
        at = int(where * len(data))
        if how == "cut":
            data = data[:at]
        elif at + 41 <= len(data):
            data = _damaged(data, at, how)
    _same_either_way(data, verify=verify)


@pytest.mark.parametrize("path", [path for path in _codec._crc32_paths()
                                  if path != ap.crc32_implementation()])
def test_every_crc_path_gives_the_same_results(path):
    """This module again, on each other CRC path this CPU has."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          __file__, "-k", "not every_crc_path"],
                         capture_output=True, text=True, cwd=Path(__file__).parent.parent,
                         env={**os.environ, "ALPHAPULSE_CRC": path})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_offsets_of_a_decode_on_the_buffers_of_the_one_before():
    """A decode takes the buffers the one before it left (their pages are kept); the offsets
    of its runs, written when first read, never show what the earlier decode left there."""
    before = decode_batch(_frames(ap.MessageType.Trade, 150000, seed=12))
    assert before.offsets(ap.MessageType.Trade)[-1] == 64 * 149999
    del before
    assert _codec.cached_buffer_bytes() >= 150000 * 8
    data = _capture([(1, 7), (0, 150000), (2, 3), (0, 5)], seed=13)
    result = decode_batch(data)
    reference, _ = _decode(data, False)
    for kind in KINDS:
        assert result.offsets(kind).tolist() == reference.offsets(kind).tolist()
    assert result.offsets(ap.MessageType.Trade)[0] == 7 * len(_frames(ap.MessageType.Quote, 1, 0))


@pytest.mark.threads
def test_offsets_first_read_by_many_threads_at_once():
    data = _capture([(0, 30000), (1, 5), (0, 30000), (2, 2)], seed=14)
    expected = _decode(data, False)[0].offsets(ap.MessageType.Trade).tolist()
    result = decode_batch(data)
    start = threading.Barrier(4)
    seen: list[list[int]] = []

    def read() -> None:
        start.wait()
        seen.append(result.offsets(ap.MessageType.Trade).tolist())

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [expected] * 4
