"""crc32 gives zlib.crc32's values on every path, length, alignment and chaining."""
from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.wire import _codec

DATA = random.Random(1).randbytes(4096 + 64)
PATHS = {"fast": ap.crc32, "portable": _codec.crc32_portable}


@pytest.mark.parametrize("crc", PATHS.values(), ids=PATHS.keys())
def test_every_length_up_to_4096(crc):
    for length in range(4097):
        assert crc(DATA[:length]) == zlib.crc32(DATA[:length]), length


@pytest.mark.parametrize("crc", PATHS.values(), ids=PATHS.keys())
def test_unaligned_starts(crc):
    view = memoryview(DATA)
    for start in range(1, 64):
        for length in (0, 1, 7, 15, 16, 31, 63, 64, 65, 127, 128, 255, 256, 1000, 4000):
            chunk = view[start:start + length]
            assert crc(chunk) == zlib.crc32(chunk), (start, length)


@pytest.mark.parametrize("crc", PATHS.values(), ids=PATHS.keys())
@given(st.binary(max_size=3000), st.binary(max_size=3000), st.integers(0, 2**32 - 1))
def test_chained_calls_equal_one_call(crc, first, second, start):
    assert crc(second, crc(first, start)) == zlib.crc32(first + second, start)


def test_large_buffers():
    big = random.Random(2).randbytes(3 * 2**20 + 13)
    assert ap.crc32(big) == zlib.crc32(big)
    assert ap.crc32(memoryview(big)[5:]) == zlib.crc32(big[5:])


def test_any_buffer_and_zlib_signature():
    assert ap.crc32(bytearray(b"abc")) == ap.crc32(memoryview(b"abc")) == zlib.crc32(b"abc")
    assert ap.crc32(b"abc", value=5) == zlib.crc32(b"abc", 5)
    with pytest.raises(TypeError):
        ap.crc32("text")
    with pytest.raises(ap.FieldValueError):
        ap.crc32(b"abc", -1)


def test_the_implementation_is_named():
    assert ap.crc32_implementation() in {"vpclmulqdq-avx512", "pclmulqdq", "armv8-crc", "table"}


# The batch resync's CRCs of spans, from prefix CRCs of the buffer and one multiplication
# modulo the polynomial: on this CPU's path and on the table path.
SPANS = {"fast": False, "table": True}
SPAN_DATA = random.Random(3).randbytes(3 * 2**20 + 77)


def test_the_span_path_is_named():
    assert _codec._crc32_combine_implementation() in {"pclmulqdq", "table"}


@pytest.mark.parametrize("portable", SPANS.values(), ids=SPANS.keys())
def test_spans_of_every_small_start_and_size(portable):
    spans = [(start, size) for start in range(130) for size in range(200)]
    crcs = _codec._crc32_spans(SPAN_DATA, spans, portable)
    assert crcs == [zlib.crc32(SPAN_DATA[a:a + n]) for a, n in spans]


@pytest.mark.parametrize("portable", SPANS.values(), ids=SPANS.keys())
def test_spans_at_random_large_ranges(portable):
    rng = random.Random(4)
    # in order (prefixes extended), out of order (started again), and one length repeated
    ordered = sorted((rng.randrange(2**20), rng.randrange(2 * 2**20)) for _ in range(200))
    shuffled = [(rng.randrange(2**20), rng.randrange(2 * 2**20)) for _ in range(200)]
    repeated = [(start, 2**20) for start in range(0, 2**20, 4099)]
    for spans in (ordered, shuffled, repeated):
        crcs = _codec._crc32_spans(SPAN_DATA, spans, portable)
        assert crcs == [zlib.crc32(SPAN_DATA[a:a + n]) for a, n in spans]


@pytest.mark.parametrize("portable", SPANS.values(), ids=SPANS.keys())
def test_frame_spans_skip_the_checksum_bytes(portable):
    rng = random.Random(5)
    spans = ([(start, size) for start in range(70) for size in range(32, 170)]
             + sorted((rng.randrange(2**20), rng.randrange(32, 2 * 2**20)) for _ in range(100)))
    crcs = _codec._crc32_spans(SPAN_DATA, spans, portable, frames=True)
    assert crcs == [zlib.crc32(SPAN_DATA[a + 32:a + n], zlib.crc32(SPAN_DATA[a:a + 28]))
                    for a, n in spans]


def test_spans_outside_the_buffer_are_refused():
    for span in ((-1, 4), (0, len(DATA) + 1), (len(DATA), 1)):
        with pytest.raises(ValueError):
            _codec._crc32_spans(DATA, [span])
    with pytest.raises(ValueError):
        _codec._crc32_spans(DATA, [(0, 31)], frames=True)
