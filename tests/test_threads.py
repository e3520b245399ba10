"""Threads that decode the very types another thread registers: run-time schemas of types
200-255 registered one by one while other threads decode frames of those types.

Allowed outcomes, for each frame, at any moment: a message (a row) of its schema with the
frame's values, or a refusal as an unknown type or version (the schema is not there yet).
Anything else (a KeyError, a wrong value, a crash) is a failure. `make tsan` runs these under
ThreadSanitizer (pytest -m threads)."""
from __future__ import annotations

import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch
from alphapulse_codec.schemas.registry import Registry
from alphapulse_codec.wire._codec import BatchDecoder

pytestmark = pytest.mark.threads

TYPES = range(200, 256)
REFUSALS = (ap.UnknownMessageTypeError, ap.UnknownVersionError)


def _schemas() -> list[ap.Schema]:
    schemas = []
    for number in TYPES:
        fields = [("a", "u32"), ("b", "u16")]
        schemas.append(ap.Schema(message_type=number, version=1, name=f"T{number}", fields=fields))
        if number % 2 == 0:
            schemas.append(ap.Schema(message_type=number, version=2, name=f"T{number}", extends=1,
                                     fields=fields + [("c", "u8", 7)]))
    return schemas


SCHEMAS = _schemas()


def _frames() -> list[tuple[int, int, bytes]]:
    """(type, version, frame) of every schema, its `a` = type * 1000 + version, `b` = type."""
    builder = ap.Registry()
    out = []
    for schema in SCHEMAS:
        cls = builder.register(schema)
        t, v = schema.message_type, schema.version
        out.append((t, v, cls(a=t * 1000 + v, b=t, sequence=v).to_bytes()))
    return out


FRAMES = _frames()
CAPTURE = b"".join(frame for _, _, frame in FRAMES) * 4
EXPECTED = {}   # offset in CAPTURE: (type, a, b)
_at = 0
for _ in range(4):
    for _t, _v, _frame in FRAMES:
        EXPECTED[_at] = (_t, _t * 1000 + _v, _t)
        _at += len(_frame)


def _check_decode(registry: ap.Registry) -> None:
    for t, v, frame in FRAMES:
        try:
            message = registry.decode(frame)
        except REFUSALS:
            continue
        assert message.header.message_type == t
        assert (message.a, message.b) == (t * 1000 + v, t)


def _check_batch(registry: ap.Registry) -> None:
    result = decode_batch(CAPTURE, registry=registry, learn=False)
    assert {s.kind for s in result.errors} <= {"unknown_type", "unknown_version"}
    for t in result.types:
        for version in result.versions(t):
            rows = result[t, version]
            offsets = result._groups[t, version].offsets
            for row, offset in zip(rows, offsets.tolist()):
                assert EXPECTED[offset] == (t, int(row["a"]), int(row["b"]))


def _check_raw(registry: ap.Registry) -> None:
    """The C decoder alone: rows, as bytes, are the frames' fixed parts."""
    decoder = BatchDecoder(True, None, None, registry)
    decoder.feed(CAPTURE, 0, True)
    parts, _ = decoder.take()
    for (t, version), (rows, offsets, _tails, _index) in parts.items():
        offsets = memoryview(offsets).cast("q").tolist()
        rows = bytes(rows)
        size = len(rows) // len(offsets)
        for i, offset in enumerate(offsets):
            a, b = struct.unpack_from("<IH", rows, i * size + 32)
            assert EXPECTED[offset] == (t, a, b)


def _register_all(registry: ap.Registry) -> None:
    for schema in SCHEMAS:
        registry.register(schema)


def _run_readers(registry: ap.Registry, checks, readers: int = 3) -> None:
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                for check in checks:
                    check(registry)
        except BaseException as error:  # reported in the main thread
            failures.append(error)
            done.set()

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    try:
        _register_all(registry)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    for check in checks:   # everything registered: every frame decodes
        check(registry)
    assert registry.decode(FRAMES[-1][2]).a == FRAMES[-1][0] * 1000 + FRAMES[-1][1]


def test_decoding_types_while_they_are_registered():
    """decode and the C batch decoder, on three threads, while a fourth registers."""
    _run_readers(ap.Registry(), [_check_decode, _check_raw])


def _pausing_in_add(pause):
    """A trace function that calls pause() at each line of Registry._add and of what it calls
    to publish the C rules: as if the registering thread were preempted there."""
    codes = {Registry._add.__code__, Registry._publish.__code__}

    def local(frame, event, arg):
        if event == "line":
            pause()
        return local

    def trace(frame, event, arg):
        return local if frame.f_code in codes else None

    return trace


def test_batch_decoding_types_while_they_are_registered():
    """decode_batch on other threads at each point where registering can be preempted:
    rows of the right schema, or unknown type/version."""
    registry = ap.Registry()
    with ThreadPoolExecutor(2) as pool:
        def pause() -> None:
            for future in [pool.submit(_check_batch, registry), pool.submit(_check_decode, registry)]:
                future.result()

        trace = _pausing_in_add(pause)
        import sys
        sys.settrace(trace)
        try:
            _register_all(registry)
        finally:
            sys.settrace(None)
    _check_batch(registry)


def test_batch_decoding_after_registration_reads_every_type():
    registry = ap.Registry()
    _register_all(registry)
    result = decode_batch(CAPTURE, registry=registry, learn=False)
    assert not result.errors and len(result) == len(EXPECTED)
    _check_batch(registry)
