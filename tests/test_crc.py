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
