"""The shared-memory ring between real processes: delivery byte for byte and in order per
producer, gaps reported when a consumer is lapped, a producer killed mid-write, a hostile
ring file, every waiting strategy, both policies. Timeouts here only guard against hangs."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import struct

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.transport import (BackpressureTimeout, Consumer, Producer,
                                        RingCorruptError, RingMismatchError, ring_path)
from alphapulse_codec.transport._ring import HEADER_SIZE
from alphapulse_codec.wire.enums import GapReason
from alphapulse_codec.wire.errors import FieldValueError, RelayTimeoutError
from bus_frames import quote, split, trades

CTX = multiprocessing.get_context("fork")
GUARD = 60  # seconds: only a hang guard
SMALL = 1 / 16  # MiB: the smallest ring, 64 KiB, lapped quickly


def identities(buffer: bytes | bytearray) -> list[tuple[int, int]]:
    """(source, sequence) of every frame."""
    return [(f[6], int.from_bytes(f[12:20], "little")) for f in split(buffer)]


def run(target, *args) -> multiprocessing.Process:
    process = CTX.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def join(*processes: multiprocessing.Process) -> None:
    for process in processes:
        process.join(GUARD)
        assert process.exitcode == 0, f"process {process.pid} ended with {process.exitcode}"


# ---- what the processes do ----

def produce(path, size_mb, policy, payload, batch_frames, ready, go):
    with Producer(path, size_mb=size_mb, policy=policy, timeout=GUARD) as producer:
        ready.set()
        go.wait(GUARD)
        frames = split(payload)
        index = 0
        while index < len(frames):
            if index % 3 == 0:  # single sends between the batches
                producer.send(frames[index])
                index += 1
            else:
                producer.send_batch(b"".join(frames[index:index + batch_frames]))
                index += batch_frames


def consume(path, size_mb, policy, wait, expected_frames, ready, results):
    with Consumer(path, size_mb=size_mb, policy=policy, wait=wait) as consumer:
        ready.set()
        received = bytearray()
        count = 0
        while count < expected_frames:
            chunk = consumer.recv_bytes(max_frames=997, timeout=GUARD)
            assert chunk, "nothing within the hang guard"
            received += chunk
            count += len(split(chunk))
        results.put((hashlib.sha256(received).hexdigest(), count, bytes(received[:4096]),
                     identities(received), consumer.gaps))


def start_consumers(path, size_mb, policy, wait, expected, count):
    results = CTX.Queue()
    readies = [CTX.Event() for _ in range(count)]
    processes = [run(consume, path, size_mb, policy, wait, expected, ready, results)
                 for ready in readies]
    for ready in readies:
        assert ready.wait(GUARD)
    return processes, results


def start_producers(path, size_mb, policy, payloads, batch_frames=50):
    go = CTX.Event()
    processes = []
    for payload in payloads:
        ready = CTX.Event()
        processes.append(run(produce, path, size_mb, policy, payload, batch_frames, ready, go))
        assert ready.wait(GUARD)
    go.set()
    return processes


@pytest.fixture
def path(tmp_path):
    return ring_path("test", tmp_path)


# ---- delivery ----

@pytest.mark.parametrize("consumers", [1, 4])
def test_every_frame_arrives_byte_for_byte(path, consumers):
    payload = trades(20_000) + b"".join(quote(i) for i in range(1, 200))
    processes, results = start_consumers(path, 4, "lossy", "sleep", 20_199, consumers)
    join(*start_producers(path, 4, "lossy", [payload]))
    outcomes = [results.get(timeout=GUARD) for _ in processes]
    join(*processes)
    for digest, count, head, _, gaps in outcomes:
        assert (digest, count, gaps) == (hashlib.sha256(payload).hexdigest(), 20_199, [])
        assert head == payload[:4096]


@pytest.mark.parametrize("policy, size_mb", [("lossy", 8), ("backpressure", SMALL)])
def test_three_producers_two_consumers_every_frame_once_in_order(path, policy, size_mb):
    # the backpressure ring is far smaller than what is sent: producers wait for the consumers
    per_producer = 15_000
    payloads = [trades(per_producer, source) for source in (1, 2, 3)]
    processes, results = start_consumers(path, size_mb, policy, "yield", 3 * per_producer, 2)
    join(*start_producers(path, size_mb, policy, payloads, batch_frames=73))
    outcomes = [results.get(timeout=GUARD) for _ in processes]
    join(*processes)
    for _, count, _, seen, gaps in outcomes:
        assert count == 3 * per_producer and gaps == []
        for source in (1, 2, 3):
            assert [s for src, s in seen if src == source] == list(range(1, per_producer + 1))


@pytest.mark.parametrize("wait", ["spin", "yield", "sleep"])
def test_every_waiting_strategy_wakes_on_frames_sent_later(path, wait):
    payload = trades(3_000)
    processes, results = start_consumers(path, 1, "lossy", wait, 3_000, 2)
    join(*start_producers(path, 1, "lossy", [payload], batch_frames=10))
    outcomes = [results.get(timeout=GUARD) for _ in processes]
    join(*processes)
    assert [o[:2] for o in outcomes] == [(hashlib.sha256(payload).hexdigest(), 3_000)] * 2


@pytest.mark.parametrize("wait", ["spin", "yield", "sleep"])
def test_a_timeout_with_nothing_sent(path, wait):
    with Consumer(path, wait=wait) as consumer:
        with pytest.raises(RelayTimeoutError, match="no frame within"):  # as a relay's
            consumer.recv(timeout=0.01)
        assert len(consumer.recv_bytes(timeout=0)) == 0
        assert consumer.recv_bytes(max_frames=1, timeout=0.01) == bytearray()
        assert len(consumer.recv_batch(timeout=0.01)) == 0


def test_messages_batches_and_iteration(path):
    with Consumer(path) as consumer, Producer(path) as producer:
        assert not consumer.closed and not producer.closed
        producer.send(ap.decode(quote(9)))
        producer.send_batch(trades(100))
        assert producer.flush() == []  # the ring answers no ErrorReports
        message = consumer.recv(timeout=GUARD)
        assert isinstance(message, ap.Quote) and message.header.sequence == 9
        batch = consumer.recv_batch(max_frames=60, timeout=GUARD)
        assert list(batch[ap.MessageType.Trade]["header"]["sequence"]) == list(range(1, 61))
        rest = [next(iter(consumer)).header.sequence for _ in range(40)]
        assert rest == list(range(61, 101))
    assert consumer.closed and producer.closed
    with pytest.raises(ap.RelayClosedError, match="closed producer"):
        producer.flush()


def test_subscription_by_type_and_source_is_kept(path):
    with Consumer(path, types=["Quote"]) as quotes, Consumer(path, sources=[2]) as from_two, \
            Producer(path) as producer:
        producer.send_batch(trades(50, source=1) + quote(1, source=1) + trades(50, source=2)
                            + quote(2, source=2))
        assert identities(quotes.recv_bytes(timeout=GUARD)) == [(1, 1), (2, 2)]
        seen = identities(from_two.recv_bytes(timeout=GUARD))
        assert seen == [(2, s) for s in range(1, 51)] + [(2, 2)]
        assert quotes.gaps == [] and from_two.gaps == []


# ---- loss is reported ----

def send_in_batches(path, payload, batch_frames, done):
    with Producer(path, size_mb=SMALL) as producer:
        frames = split(payload)
        for index in range(0, len(frames), batch_frames):
            producer.send_batch(b"".join(frames[index:index + batch_frames]))
    done.set()


def test_a_lapped_consumer_is_told_how_many_frames_it_lost_and_carries_on(path):
    sent = 20_000  # 1.6 MB through a 64 KiB ring: lapped many times
    with Consumer(path, size_mb=SMALL) as consumer:
        done = CTX.Event()
        join(run(send_in_batches, path, trades(sent), 100, done))
        got = identities(consumer.recv_bytes(max_frames=100_000, timeout=GUARD))
        [gap] = consumer.gaps
        assert gap.reason == GapReason.Lapped
        assert gap.last - gap.first == consumer.bytes_lost > 0  # ring bytes skipped
        # the newest frames, in order, and the count of the lost ones
        assert got == [(5, s) for s in range(sent - len(got) + 1, sent + 1)]
        assert gap.frames_lost == sent - len(got) == consumer.frames_lost
        with Producer(path, size_mb=SMALL) as producer:
            producer.send_batch(trades(500, first=sent + 1))
        more = identities(consumer.recv_bytes(max_frames=1000, timeout=GUARD))
        assert more == [(5, s) for s in range(sent + 1, sent + 501)]
        assert len(consumer.gaps) == 1
        lost = (consumer.frames_lost, consumer.bytes_lost)
    # what it lost stays readable once closed, as on every transport
    assert (consumer.frames_lost, consumer.bytes_lost) == lost and consumer.gaps == [gap]


def claim_and_die(path, claimed):
    producer = Producer(path, size_mb=SMALL)
    producer.send(quote(1, source=3))
    producer._ring._claim_without_commit(64)
    claimed.set()
    signal.pause()


def test_a_producer_killed_mid_write_neither_hangs_nor_feeds_a_consumer(path):
    with Consumer(path, size_mb=SMALL, stall_timeout=GUARD) as consumer:
        claimed = CTX.Event()
        process = run(claim_and_die, path, claimed)
        assert claimed.wait(GUARD)
        os.kill(process.pid, signal.SIGKILL)
        process.join(GUARD)
        with Producer(path, size_mb=SMALL) as producer:
            producer.send_batch(trades(10, source=4))
        assert identities(consumer.recv_bytes(timeout=GUARD)) == [(3, 1)]
        # the dead claim is skipped well before the (long) stall timeout: its owner is gone
        assert identities(consumer.recv_bytes(timeout=GUARD)) == [(4, s) for s in range(1, 11)]
        [gap] = consumer.gaps
        assert (gap.reason, gap.frames_lost, gap.source, gap.reported) == (
            GapReason.Abandoned, 1, None, True)
        # the claim of 64 bytes and its 16-byte record header, where the consumer stood
        assert gap.last - gap.first == consumer.bytes_lost == 80


def test_a_claim_left_uncommitted_by_a_live_producer_is_skipped_after_the_stall_timeout(path):
    with Consumer(path, size_mb=SMALL, stall_timeout=0.05) as consumer, \
            Producer(path, size_mb=SMALL) as stuck, Producer(path, size_mb=SMALL) as other:
        stuck._ring._claim_without_commit(64)
        other.send_batch(trades(5, source=2))
        assert identities(consumer.recv_bytes(timeout=GUARD)) == [(2, s) for s in range(1, 6)]
        [gap] = consumer.gaps
        assert (gap.reason, gap.frames_lost) == (GapReason.Stalled, 1)


def send_forever(path, started):
    with Producer(path, size_mb=SMALL) as producer:
        batch = trades(200, source=1)
        started.set()
        while True:
            producer.send_batch(batch)


def test_a_producer_killed_at_any_moment_leaves_only_whole_frames(path):
    with Consumer(path, size_mb=SMALL, stall_timeout=GUARD) as consumer:
        for _ in range(5):
            started = CTX.Event()
            process = run(send_forever, path, started)
            assert started.wait(GUARD)
            consumer.recv_bytes(max_frames=5_000, timeout=GUARD)
            os.kill(process.pid, signal.SIGKILL)
            process.join(GUARD)
            while consumer.recv_bytes(max_frames=5_000, timeout=0.01):
                pass
        with Producer(path, size_mb=SMALL) as producer:
            producer.send_batch(trades(3, source=9))
        tail = consumer.recv_batch(max_frames=10, timeout=GUARD)  # CRC-checked
        assert list(tail[ap.MessageType.Trade]["header"]["source"]) == [9, 9, 9]
        assert all(g.reason in (GapReason.Lapped, GapReason.Abandoned)
                   for g in consumer.gaps)


# ---- the execution policy ----

def stop_reading(path, ready):
    consumer = Consumer(path, size_mb=SMALL, policy="backpressure")
    ready.set()
    signal.pause()
    consumer.close()


def test_backpressure_waits_for_a_live_consumer_and_reclaims_a_dead_ones_slot(path):
    ready = CTX.Event()
    process = run(stop_reading, path, ready)
    assert ready.wait(GUARD)
    with Producer(path, size_mb=SMALL, policy="backpressure", timeout=0.05) as producer:
        with pytest.raises(BackpressureTimeout, match="slowest consumer"):
            for _ in range(100):
                producer.send_batch(trades(100))
        os.kill(process.pid, signal.SIGKILL)
        process.join(GUARD)
        producer.timeout = GUARD
        for _ in range(100):  # the dead consumer's slot is freed: room again
            producer.send_batch(trades(100))


def close_while_others_wait(path, results):
    """In a process of its own, so that a crash shows as its exit code: clients closed by one
    thread while others wait in them."""
    import threading
    import time

    def outcome(call):
        try:
            return repr(call())
        except Exception as error:  # what the waiting call ended with
            return type(error).__name__

    consumer = Consumer(path, size_mb=SMALL, policy="backpressure")
    ended: dict[str, str] = {}
    waits = {"recv": lambda: consumer.recv(), "recv_bytes": lambda: consumer.recv_bytes(100),
             "iteration": lambda: list(consumer)}
    threads = [threading.Thread(target=lambda k=k, w=w: ended.__setitem__(k, outcome(w)))
               for k, w in waits.items()]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # waiting by now, most likely; a close before their wait ends them alike
    consumer.close()
    for thread in threads:
        thread.join(GUARD)
    producer = Producer(path, size_mb=SMALL, policy="backpressure", timeout=1.0)
    reader = Consumer(path, size_mb=SMALL, policy="backpressure")  # reads nothing: no room
    sender = threading.Thread(target=lambda: ended.__setitem__("send", outcome(
        lambda: [producer.send_batch(trades(100)) for _ in range(100)])))
    sender.start()
    time.sleep(0.2)
    producer.close()
    sender.join(GUARD)
    results.put((ended, consumer.closed, producer.closed, consumer.gaps, reader.frames_lost))
    reader.close()


def test_a_client_closed_while_another_thread_waits_in_it_ends_that_wait(path):
    """The waiting thread reads the mapping without the interpreter's lock: a close lets it go
    only once that thread is out, which then raises RelayClosedError (iteration ends)."""
    results = CTX.Queue()
    process = run(close_while_others_wait, path, results)
    join(process)
    ended, consumer_closed, producer_closed, gaps, lost = results.get(timeout=GUARD)
    assert ended == {"recv": "RelayClosedError", "recv_bytes": "RelayClosedError",
                     "iteration": "[]", "send": "BackpressureTimeout"}
    assert consumer_closed and producer_closed and gaps == [] and lost == 0


# ---- hostile input ----

def test_malformed_frames_are_refused_whole(path):
    with Consumer(path) as consumer, Producer(path) as producer:
        good = trades(3)
        with pytest.raises(ap.BadMagicError, match="offset 64") as caught:
            producer.send_batch(good[:64] + b"\0" * 64)
        assert caught.value.frame_offset == 64
        with pytest.raises(ap.TruncatedError):
            producer.send_batch(good[:-1])
        with pytest.raises(ap.FrameTooLargeError, match="payload_size"):
            big = bytearray(good[:64])
            big[8:12] = (8 << 20).to_bytes(4, "little")
            producer.send_batch(bytes(big))
        with pytest.raises(ap.LengthMismatchError, match="one frame"):
            producer.send(good)
        assert len(consumer.recv_bytes(timeout=0)) == 0


def _patch(path, offset, data):
    with open(path, "r+b") as ring:
        ring.seek(offset)
        ring.write(data)


@pytest.mark.parametrize("offset, data, field", [
    (0, b"NOTARING", "magic"),
    (8, struct.pack("<I", 9), "version"),
    (16, struct.pack("<Q", 3 << 16), "capacity"),
    (24, struct.pack("<I", 7), "policy"),
    (128, struct.pack("<Q", (1 << 63) + 8), "tail_intent"),
    (256, struct.pack("<Q", 1 << 40), "tail"),
])
def test_a_corrupted_header_is_refused_with_the_field(path, offset, data, field):
    Producer(path, size_mb=SMALL).close()
    _patch(path, offset, data)
    with pytest.raises(RingCorruptError, match=field) as caught:
        Consumer(path, size_mb=None, policy=None)
    assert (caught.value.offset, caught.value.field) == (offset, field)


def test_a_corrupted_record_is_reported_with_its_offset(path):
    with Consumer(path, size_mb=SMALL) as consumer, Producer(path, size_mb=SMALL) as producer:
        producer.send_batch(trades(3))
        _patch(path, HEADER_SIZE + 80 + 16 + 8, struct.pack("<I", 999))  # 2nd frame's size
        with pytest.raises(RingCorruptError, match="payload_size disagrees") as caught:
            consumer.recv_bytes(timeout=GUARD)
        assert (caught.value.offset, caught.value.field) == (HEADER_SIZE + 80 + 16 + 8, "record")


def test_a_truncated_or_foreign_file_is_refused(path):
    path.write_bytes(b"\0" * 100)
    path.chmod(0o600)
    with pytest.raises(RingCorruptError, match="shorter than"):
        Consumer(path)
    path.unlink()
    Producer(path, size_mb=SMALL).close()
    with pytest.raises(RingMismatchError, match="capacity of 65536"):
        Producer(path, size_mb=1)
    with pytest.raises(RingMismatchError, match="policy lossy"):
        Consumer(path, size_mb=SMALL, policy="backpressure")
    path.chmod(0o644)
    with pytest.raises(RingMismatchError, match="private"):
        Consumer(path, size_mb=SMALL)
    os.truncate(path, os.path.getsize(path) - 8)
    path.chmod(0o600)
    with pytest.raises(RingCorruptError, match="file size"):
        Consumer(path, size_mb=SMALL)


def test_bad_arguments_say_which(path):
    """The project's FieldValueError (a ValueError) with the argument in ``field``."""
    refusals = [
        ("size_mb", "^size_mb: 3, expected a power of two", lambda: Producer(path, size_mb=3)),
        ("size_mb", "^size_mb: 'big', expected", lambda: Producer(path, size_mb="big")),
        ("wait", "^wait: 'nap', expected one of", lambda: Consumer(path, wait="nap")),
        ("policy", "^policy: 'strict'", lambda: Producer(path, policy="strict")),
        ("types", "^types: 'Trades' names no MessageType", lambda: Consumer(path, types=["Trades"])),
        ("types", "^types: 300 is not a number from 0 to 255", lambda: Consumer(path, types=300)),
        ("sources", "^sources: 'Nobody' names no SourceType",
         lambda: Consumer(path, sources=["Nobody"])),
        ("stall_timeout", "^stall_timeout: 0, expected seconds > 0",
         lambda: Consumer(path, stall_timeout=0)),
        ("stall_timeout", "^stall_timeout: '1', expected seconds > 0",
         lambda: Consumer(path, stall_timeout="1")),
        ("name", "^name: ring name 'a/b', expected a plain file name", lambda: ring_path("a/b")),
    ]
    for field, message, call in refusals:
        with pytest.raises(FieldValueError, match=message) as refused:
            call()
        assert refused.value.field == field
    assert os.stat(ring_path("x", path.parent).parent).st_mode  # the directory exists
    with Producer(path) as producer:
        assert producer.capacity == 16 << 20 and os.stat(path).st_mode & 0o777 == 0o600


def test_a_frame_larger_than_the_batch_buffer_guess_arrives_whole(path):
    from frames import raw_announcement

    big = raw_announcement("x" * 5000)
    with Consumer(path) as consumer, Producer(path) as producer:
        producer.send(big)
        producer.send_batch(trades(2))
        assert bytes(consumer.recv_bytes(max_frames=1, timeout=GUARD)) == big
        assert identities(consumer.recv_bytes(max_frames=1, timeout=GUARD)) == [(5, 1)]
        assert bytes(consumer.recv(timeout=GUARD).to_bytes()) == trades(2)[64:]


def test_the_readme_example_runs_as_written():
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"## Shared memory between processes\n\n```python\n(.*?)```", readme, re.S).group(1)
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=GUARD,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "18925000000 []\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_damage_to_a_live_ring_gives_whole_frames_or_a_clear_error(path, seed):
    rng = np.random.default_rng(seed)
    with Consumer(path, size_mb=SMALL, stall_timeout=0.01) as consumer, \
            Producer(path, size_mb=SMALL) as producer:
        producer.send_batch(trades(int(rng.integers(1, 300))))
        for _ in range(int(rng.integers(1, 8))):
            where = rng.random()
            if where < 0.2:  # a counter of the header
                offset = int(rng.choice([128, 256, 384])) + int(rng.integers(0, 8))
            elif where < 0.4:  # the producer slots: pids, claims, numbering
                offset = 640 + int(rng.integers(0, 64 * 64))
            else:
                offset = HEADER_SIZE + int(rng.integers(0, 300 * 80))
            _patch(path, offset, bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8)))
        for _ in range(1000):
            try:
                chunk = consumer.recv_bytes(max_frames=int(rng.integers(1, 400)), timeout=0.05)
            except RingCorruptError as error:
                assert error.offset is not None
                assert "position" in str(error) or "tail_intent" in str(error)
                break
            if not chunk:
                break
            for frame in split(chunk):
                assert frame[:4] == b"\xef\xbe\xad\xde" and len(frame) >= 32
