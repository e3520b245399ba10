"""Batch decode: rows equal single-frame decode, corruption is reported and survived,
chunked decode equals whole decode, batch encode round-trips."""
from __future__ import annotations

import random
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import BadStretch, BatchResult, decode_batch, encode_batch, iter_batches
from alphapulse_codec.wire.layouts import MESSAGES
from alphapulse_codec.samples.synthetic import write_capture
from strategies import frames
from frames import zeroed, zeroed_frame


def _frames_of(result):
    """Every kept frame as (offset, bytes), in source order."""
    found = []
    for message_type in result.types:
        offsets = result.offsets(message_type)
        found += [(int(offsets[i]), result.frame(message_type, i)) for i in range(len(offsets))]
    return sorted(found)


def _layout_of(data: bytes) -> list[tuple[int, bytes]]:
    out, position = [], 0
    for message in ap.iter_frames(data):
        out.append((position, message.to_bytes()))
        position += message.size
    return out


def test_vector_rows_equal_single_frame_decode(vector_bytes):
    result = decode_batch(vector_bytes)
    assert len(result) == 600 and result.errors == []
    for message_type in result.types:
        rows = result[message_type]
        layout = MESSAGES[message_type]
        for i, offset in enumerate(result.offsets(message_type)):
            message = ap.decode(vector_bytes[offset:offset + ap.decode(
                vector_bytes[offset:offset + 32 + int(rows[i]["header"]["payload_size"])]).size])
            assert rows[i]["header"]["sequence"] == message.header.sequence
            for f in layout.value_fields:
                value = getattr(message, f.name)
                if f.kind == "int" and f.size <= 8:
                    assert int(rows[i][f.name]) == value, f.name
                elif f.kind == "instrument_id":
                    assert int(rows[i][f.name]["asset_id"]) == value.asset_id
            if layout.carries_tlv:
                assert result.tlvs(message_type, i) == message.tlv
            else:
                assert result.message(message_type, i) == message
    assert _frames_of(result) == _layout_of(vector_bytes)


def test_types_restricts_the_output(vector_bytes):
    result = decode_batch(vector_bytes, types=[ap.MessageType.Trade, "Quote"])
    assert result.types == [ap.MessageType.Trade, ap.MessageType.Quote]
    assert len(result) == 79 + 81 and result.errors == []


def test_any_buffer_and_a_path(vector_bytes, tmp_path):
    path = tmp_path / "capture.bin"
    path.write_bytes(vector_bytes)
    for source in (bytearray(vector_bytes), memoryview(vector_bytes),
                   np.frombuffer(vector_bytes, np.uint8), path, str(path)):
        assert len(decode_batch(source)) == 600


@pytest.mark.parametrize("garbage", [b"\x00" * 7, b"\xef\xbe\xad\xde" + b"\x01" * 40,
                                     random.Random(3).randbytes(300)])
def test_garbage_between_frames_is_one_bad_stretch(vector_bytes, garbage):
    frames = _layout_of(vector_bytes)
    cut = frames[10][0]
    data = vector_bytes[:cut] + garbage + vector_bytes[cut:]
    result = decode_batch(data)
    assert len(result) == 600
    assert result.errors == [BadStretch(cut, len(garbage), result.errors[0].kind)]


def test_garbage_inside_a_frame_loses_only_that_frame(vector_bytes):
    frames = _layout_of(vector_bytes)
    offset, frame = frames[20]
    data = vector_bytes[:offset + 40] + b"JUNKJUNK" + vector_bytes[offset + 40:]
    result = decode_batch(data)
    assert len(result) == 599
    [stretch] = result.errors
    assert stretch.offset == offset and stretch.length == len(frame) + 8
    assert stretch.kind == "checksum_mismatch"


def test_garbage_in_place_of_frames(vector_bytes):
    frames = _layout_of(vector_bytes)
    start, end = frames[30][0], frames[33][0]
    data = bytearray(vector_bytes)
    data[start:end] = random.Random(4).randbytes(end - start)
    result = decode_batch(bytes(data))
    assert len(result) == 597
    assert result.errors == [BadStretch(start, end - start, result.errors[0].kind)]
    assert _frames_of(result) == [f for f in frames if not start <= f[0] < end]


def test_a_corrupt_size_field_does_not_hide_the_frames_after_it(vector_bytes):
    # its announced length runs into the next good frame, which is how a cut frame looks
    frames = _layout_of(vector_bytes)
    data = bytearray(vector_bytes)
    offset = frames[5][0]
    data[offset + 8:offset + 12] = (5000).to_bytes(4, "little")
    result = decode_batch(bytes(data))
    assert len(result) == 599
    assert result.errors == [BadStretch(offset, len(frames[5][1]), "truncated")]


def test_capture_cut_at_every_byte_of_its_last_frame(vector_bytes):
    frames = _layout_of(vector_bytes)
    last_offset = frames[-1][0]
    for cut in range(last_offset + 1, len(vector_bytes)):
        result = decode_batch(vector_bytes[:cut])
        assert len(result) == 599
        assert result.errors == [BadStretch(last_offset, cut - last_offset, "truncated")]


def test_without_verification_a_bit_flip_in_a_body_is_not_seen(vector_bytes):
    data = bytearray(vector_bytes)
    data[100] ^= 1
    assert len(decode_batch(bytes(data), verify=False)) == 600
    assert len(decode_batch(bytes(data))) == 599


@pytest.mark.parametrize("chunk_bytes", [(1 << 20) + 1, 3 << 20])
def test_chunked_decode_equals_whole_decode(tmp_path, chunk_bytes):
    rng = random.Random(5)
    parts = []
    for i in range(60000):
        if i % 7919 == 0:
            parts.append(rng.randbytes(rng.randrange(1, 200)))
        parts.append(zeroed_frame(ap.Trade, price=i, sequence=i) if i % 3 else
                     zeroed_frame(ap.DeFiSignal, signal_id=i, tlv=[ap.RawTLV(9, b"z" * (i % 50))]))
    data = b"".join(parts)
    path = tmp_path / "capture.bin"
    path.write_bytes(data)
    whole = decode_batch(data)
    chunks = list(iter_batches(path, chunk_bytes=chunk_bytes))
    assert len(chunks) > 1
    assert sum(len(c) for c in chunks) == len(whole)
    for message_type in whole.types:
        rows = b"".join(c[message_type].tobytes() for c in chunks if message_type in c)
        assert rows == whole[message_type].tobytes()
        offsets = np.concatenate([c.offsets(message_type) for c in chunks if message_type in c])
        assert (offsets == whole.offsets(message_type)).all()
    assert [e for c in chunks for e in c.errors] == whole.errors


@pytest.mark.parametrize("garbage", [1000, 3 * 4096 + 5, 40000])
def test_a_bad_stretch_across_chunks_is_one_stretch_as_in_a_whole_decode(tmp_path, garbage):
    data = (zeroed_frame(ap.Trade, price=1) + random.Random(garbage).randbytes(garbage)
            + zeroed_frame(ap.Trade, price=2) + random.Random(-garbage).randbytes(garbage))
    path = tmp_path / "capture.bin"
    path.write_bytes(data)
    whole = decode_batch(data).errors
    assert [e.length for e in whole] == [garbage, garbage]
    chunks = list(iter_batches(path, chunk_bytes=4096))
    assert [e for c in chunks for e in c.errors] == whole
    assert sum(len(c) for c in chunks) == 2


def test_frames_larger_than_the_chunk_grow_the_buffer(tmp_path):
    book = zeroed(ap.OrderBook, bids=[(i, i) for i in range(20_000)], sequence=1).to_bytes()  # 320 KB
    trade = zeroed(ap.Trade, price=5, sequence=2).to_bytes()
    path = tmp_path / "big.bin"
    path.write_bytes(trade + book + b"junk" + trade + book)
    whole = decode_batch(path)
    chunks = list(iter_batches(path, chunk_bytes=4096))
    joined = BatchResult.concat(chunks)
    assert len(joined[ap.MessageType.OrderBook]) == 2 and len(joined[ap.MessageType.Trade]) == 2
    assert (joined.offsets(ap.MessageType.OrderBook) == whole.offsets(ap.MessageType.OrderBook)).all()
    assert joined.errors == whole.errors and len(whole.errors) == 1


@pytest.mark.parametrize("chunk_bytes", [0, 100, -1, 4096.0])
def test_a_chunk_size_that_cannot_work_is_refused(tmp_path, chunk_bytes):
    with pytest.raises(ValueError, match="chunk_bytes must be an int of at least 4096"):
        next(iter_batches(tmp_path / "x", chunk_bytes=chunk_bytes))


@pytest.mark.parametrize("message_type", list(MESSAGES), ids=lambda t: t.name)
@settings(max_examples=25)
@given(data=st.data())
def test_batch_encode_then_decode_round_trips_every_field(message_type, data):
    sample = data.draw(st.lists(frames(MESSAGES[message_type]), min_size=1, max_size=5))
    result = decode_batch(b"".join(sample))
    rows = result[message_type]
    tails = [result.tail(message_type, i) for i in range(len(rows))]
    assert encode_batch(rows, message_type, tails=tails) == b"".join(sample)


@given(st.lists(frames(), min_size=1, max_size=12), st.binary(max_size=40))
def test_a_mix_of_every_type_decodes_frame_for_frame(sample, junk):
    data = b"".join(sample)
    result = decode_batch(data + junk)
    kept = _frames_of(result)
    starts = np.cumsum([0] + [len(f) for f in sample[:-1]]).tolist()
    assert kept[:len(sample)] == list(zip(starts, sample))
    for message_type in result.types:
        rows = result[message_type]
        assert (rows["header"]["message_type"] == message_type).all()


def test_batch_encode_of_fresh_rows():
    rows = np.zeros(4, dtype=ap.dtype(ap.MessageType.Quote))
    rows["bid_price"] = [1, 2, 3, 4]
    rows["header"]["sequence"] = np.arange(4)
    messages = list(ap.iter_frames(encode_batch(rows)))
    assert [m.bid_price for m in messages] == [1, 2, 3, 4]
    assert all(m.header.version == 1 for m in messages)


def test_batch_encode_refuses_rows_whose_counts_disagree_with_their_tails():
    rows = np.zeros(2, dtype=ap.dtype(ap.MessageType.InstrumentDiscovered))
    rows["symbol_len"] = [4, 9]
    with pytest.raises(ap.FieldValueError, match="row 1: payload_size"):
        encode_batch(rows, ap.MessageType.InstrumentDiscovered, tails=[b"AAPL", b"AAPL"])
    with pytest.raises(TypeError, match="InstrumentDiscovered or PoolDiscovered: pass message_type"):
        encode_batch(rows)


@pytest.mark.parametrize("rows, got", [([1, 2], "got list"), (b"\\x00" * 64, "got bytes"),
                                       (np.zeros(3), "got ndarray of dtype float64")])
def test_batch_encode_refuses_what_is_not_rows_by_what_it_is(rows, got):
    with pytest.raises(TypeError, match=f"rows are a structured numpy array.*{got}"):
        encode_batch(rows)


@pytest.mark.threads
def test_two_threads_decode_two_chunks_at_once(vector_bytes):
    results = [None, None]

    def work(slot):
        results[slot] = decode_batch(vector_bytes * 50)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results[0]) == len(results[1]) == 30000


def test_concat_of_chunks_equals_whole(tmp_path, vector_bytes):
    path = tmp_path / "capture.bin"
    path.write_bytes(vector_bytes * 40 + b"tail garbage")
    whole = decode_batch(path)
    joined = BatchResult.concat(iter_batches(path, chunk_bytes=(1 << 20) + 1))
    assert joined.types == whole.types and joined.errors == whole.errors
    for message_type in whole.types:
        assert joined[message_type].tobytes() == whole[message_type].tobytes()
        assert (joined.offsets(message_type) == whole.offsets(message_type)).all()
        rows = len(whole[message_type])
        for row in (0, rows // 2, rows - 1):
            assert joined.frame(message_type, row) == whole.frame(message_type, row)


def test_iterating_a_capture_holds_about_one_chunk_in_memory(tmp_path):
    path = tmp_path / "capture.bin"
    write_capture(path, 1_500_000)
    assert path.stat().st_size > 100 << 20
    script = (
        "import resource, sys\n"
        "from alphapulse_codec.capture.batch import iter_batches\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "frames = sum(len(c) for c in iter_batches(sys.argv[1], chunk_bytes=4 << 20))\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(frames, grown)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, check=True)
    frames, grown_kib = map(int, result.stdout.split())
    assert frames == 1_500_000
    assert grown_kib < 64 << 10  # a 100 MiB capture read through 4 MiB chunks


def _max_size_headers(message_type: int, count: int) -> bytes:
    """Headers back to back, each claiming the largest frame the default limit allows."""
    header = struct.pack("<IBBBBIQQI", 0xDEADBEEF, message_type, 1, 0, 0,
                         ap.DEFAULT_MAX_FRAME_SIZE - 32, 0, 0, 0)
    return header * count


@pytest.mark.parametrize("message_type", [ap.MessageType.OrderBook, ap.MessageType.Trade],
                         ids=lambda t: t.name)
def test_headers_claiming_the_largest_size_are_one_bad_stretch(tmp_path, vector_bytes,
                                                              message_type):
    # each claimed frame lies inside the input, over the valid frames after the headers
    hostile = _max_size_headers(message_type, 512)
    valid = vector_bytes * 40
    assert len(valid) > ap.DEFAULT_MAX_FRAME_SIZE
    data = hostile + valid
    path = tmp_path / "capture.bin"
    path.write_bytes(data)
    for result in (decode_batch(data), decode_batch(data, verify=False),
                   BatchResult.concat(iter_batches(path, chunk_bytes=(1 << 20) + 4096))):
        assert len(result) == 600 * 40
        # chunks report the stretch in pieces, one per chunk it spans
        ends = [e.offset + e.length for e in result.errors]
        assert [e.offset for e in result.errors] == [0] + ends[:-1] and ends[-1] == len(hostile)
        assert _frames_of(result) == [(len(hostile) + offset, frame)
                                      for offset, frame in _layout_of(valid)]


def test_megabytes_of_tlv_headers_claiming_the_largest_size_are_one_bad_stretch(vector_bytes):
    # Trade carries TLVs: each candidate's checksum comes before its walk, so this decodes in
    # time linear in the headers (benchmarks/hostile.py times it)
    hostile = _max_size_headers(ap.MessageType.Trade, (3 << 20) // 32)
    valid = vector_bytes * 40
    result = decode_batch(hostile + valid)
    assert result.errors == [BadStretch(0, len(hostile), "checksum_mismatch")]
    assert _frames_of(result) == [(len(hostile) + offset, frame)
                                  for offset, frame in _layout_of(valid)]


def _run(script: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          check=True).stdout


def test_release_buffers_empties_the_cache_and_returns_its_memory():
    script = (
        "import sys\n"
        "import alphapulse_codec as ap\n"
        "from alphapulse_codec.capture.batch import cached_buffer_bytes, decode_batch\n"
        "def rss():\n"
        "    with open('/proc/self/status') as status:\n"
        "        return next(int(l.split()[1]) << 10 for l in status if l.startswith('VmRSS:'))\n"
        "data = ap.Trade(instrument_id=ap.InstrumentId(), price=1, volume=1, side=1,"
        " sequence=1).to_bytes() * (1 << 18)\n"  # 16 MiB of rows
        "result = decode_batch(data)\n"
        "del data, result\n"
        "cached, before = cached_buffer_bytes(), rss()\n"
        "released = ap.release_buffers()\n"
        "print(cached, released, cached_buffer_bytes(), before - rss())\n"
    )
    cached, released, left, dropped = map(int, _run(script).split())
    assert cached >= 16 << 20 and released == cached and left == 0
    assert dropped >= cached // 2  # the pages the cache held were resident


def test_the_cache_keeps_the_rows_of_a_decode_too_large_to_keep_whole():
    # 256 MiB of Trades: 256 MiB of rows, which end at the input's size, and 32 MiB of offsets,
    # which the 256 MiB cache cannot also hold; the rows, freed last, push the offsets out
    script = (
        "import alphapulse_codec as ap\n"
        "from alphapulse_codec.capture.batch import cached_buffer_bytes, decode_batch\n"
        "data = ap.Trade(instrument_id=ap.InstrumentId(), price=1, volume=1, side=1,"
        " sequence=1).to_bytes() * (1 << 22)\n"
        "result = decode_batch(data, verify=False)\n"
        "rows = result[ap.MessageType.Trade].nbytes\n"
        "del result\n"
        "print(len(data), rows, cached_buffer_bytes())\n"
    )
    size, rows, cached = map(int, _run(script).split())
    assert size == rows == cached == 256 << 20


def test_a_decode_fits_an_address_space_limit_of_its_rows(tmp_path):
    # a decode used to reserve about the whole input per type: 6 types of a 16 MiB capture
    # wanted over 100 MiB beyond the rows
    path = tmp_path / "capture.bin"
    write_capture(path, 16 << 20 >> 6)
    whole = decode_batch(path)
    assert len(whole.types) >= 6
    returned = sum(g.rows.nbytes + g.offsets.nbytes + len(g.tails) + g.tail_index.nbytes
                   for g in whole._groups.values())
    script = (
        "import mmap, resource, sys\n"
        "from alphapulse_codec.capture.batch import decode_batch\n"
        "with open(sys.argv[1], 'rb') as stream:\n"
        "    source = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)\n"
        "with open('/proc/self/status') as status:\n"
        "    size = next(int(l.split()[1]) << 10 for l in status if l.startswith('VmSize:'))\n"
        "limit = size + int(sys.argv[2]) * 3 // 2 + (32 << 20)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))\n"
        "print(len(decode_batch(source)))\n"
    )
    assert int(_run(script, str(path), str(returned))) == len(whole)
