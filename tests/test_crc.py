"""crc32 and the batch checksum give zlib.crc32's values on every path this CPU can run, at
every length, alignment and chaining; ALPHAPULSE_CRC chooses the path."""
from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.wire import _codec

DATA = random.Random(1).randbytes(4096 + 64)
PATH_NAMES = ("table", "pclmul", "vpclmul256", "vpclmul512", "armv8")
SUPPORTED = _codec._crc32_paths()
# Each path by name, whichever the process uses, and the public function and the portable
# one as they are called.
PATHS = {name: functools.partial(_codec._crc32_with, name) for name in SUPPORTED}
PATHS |= {"crc32": ap.crc32, "crc32_portable": _codec.crc32_portable}


def frame_checksum(frame: bytes) -> int:
    return zlib.crc32(frame[32:], zlib.crc32(frame[:28]))


@pytest.mark.parametrize("crc", PATHS.values(), ids=PATHS.keys())
def test_every_length_up_to_4096(crc):
    for length in range(4097):
        assert crc(DATA[:length]) == zlib.crc32(DATA[:length]), length


@pytest.mark.parametrize("crc", PATHS.values(), ids=PATHS.keys())
def test_unaligned_starts(crc):
    view = memoryview(DATA)
    for start in range(1, 64):
        for length in (0, 1, 7, 15, 16, 31, 63, 64, 65, 127, 128, 255, 256, 511, 512, 767, 768,
                       1000, 1023, 1024, 1025, 4000):
            chunk = view[start:start + length]
            assert crc(chunk) == zlib.crc32(chunk), (start, length)


@pytest.mark.parametrize("crc", PATHS.values(), ids=PATHS.keys())
@given(st.binary(max_size=3000), st.binary(max_size=3000), st.integers(0, 2**32 - 1))
def test_chained_calls_equal_one_call(crc, first, second, start):
    assert crc(second, crc(first, start)) == zlib.crc32(first + second, start)


@pytest.mark.parametrize("crc", PATHS.values(), ids=PATHS.keys())
def test_large_buffers(crc):
    big = random.Random(2).randbytes(3 * 2**20 + 13)
    assert crc(big) == zlib.crc32(big)
    assert crc(memoryview(big)[5:]) == zlib.crc32(big[5:])


@pytest.mark.parametrize("path", SUPPORTED)
def test_batch_checksum_of_every_frame_size_alone_and_in_groups(path):
    rng = random.Random(3)
    frames = [rng.randbytes(size) for size in range(32, 700)]
    expected = [frame_checksum(frame) for frame in frames]
    assert _codec._crc32_frames_with(path, frames) == expected
    for group in (2, 3, 4, 5, 8):
        for start in range(0, len(frames) - group, group):
            assert (_codec._crc32_frames_with(path, frames[start:start + group])
                    == expected[start:start + group]), (group, start)
    for frame, checksum in zip(frames, expected):
        assert _codec._crc32_frames_with(path, [frame] * 4) == [checksum] * 4


@pytest.mark.parametrize("path", SUPPORTED)
def test_batch_checksum_of_groups_of_mixed_sizes(path):
    rng = random.Random(4)
    for _ in range(3000):
        sizes = [rng.choice((rng.randrange(32, 100), rng.randrange(36, 520), 64, 80,
                             rng.randrange(32, 2100))) for _ in range(rng.randrange(1, 20))]
        frames = [rng.randbytes(size) for size in sizes]
        assert _codec._crc32_frames_with(path, frames) == [frame_checksum(f) for f in frames]


@pytest.mark.parametrize("path", SUPPORTED)
@given(st.lists(st.binary(min_size=32, max_size=1200), max_size=12))
def test_batch_checksum_of_any_frames(path, frames):
    assert _codec._crc32_frames_with(path, frames) == [frame_checksum(f) for f in frames]


def _sealed(frame: bytes) -> bytes:
    return frame[:28] + frame_checksum(frame).to_bytes(4, "little") + frame[32:]


@pytest.mark.parametrize("path", SUPPORTED)
def test_run_check_stops_at_the_first_frame_whose_checksum_fails(path):
    """The batch decode's check of frames of one size back to back, at every size around the
    group's bounds and every count, with a bad checksum at each place in the run."""
    rng = random.Random(5)
    for size in [*range(32, 100), 127, 128, 129, 500, 511, 512, 513, 700, 2100]:
        run = [_sealed(rng.randbytes(size)) for _ in range(11)]
        for count in range(12):
            assert _codec._crc32_run_with(path, b"".join(run[:count]), size) == count
        for bad in range(11):
            broken = list(run)
            byte = rng.randrange(size - 4)
            byte += 4 if byte >= 28 else 0  # any byte the checksum covers, or the checksum
            broken[bad] = (broken[bad][:byte] + bytes([broken[bad][byte] ^ 0x40])
                           + broken[bad][byte + 1:])
            assert _codec._crc32_run_with(path, b"".join(broken), size) == bad, (size, bad)


@pytest.mark.parametrize("path", SUPPORTED)
@given(st.integers(32, 600), st.lists(st.binary(min_size=600, max_size=600), max_size=9),
       st.integers(0, 9))
def test_run_check_of_any_frames(path, size, bodies, bad):
    run = [_sealed(body[:size]) for body in bodies]
    if bad < len(run):
        wrong = (frame_checksum(run[bad]) ^ 1).to_bytes(4, "little")
        run[bad] = run[bad][:28] + wrong + run[bad][32:]
    assert _codec._crc32_run_with(path, b"".join(run), size) == min(bad, len(run))


def test_any_buffer_and_zlib_signature():
    assert ap.crc32(bytearray(b"abc")) == ap.crc32(memoryview(b"abc")) == zlib.crc32(b"abc")
    assert ap.crc32(b"abc", value=5) == zlib.crc32(b"abc", 5)
    with pytest.raises(TypeError):
        ap.crc32("text")
    with pytest.raises(ap.FieldValueError):
        ap.crc32(b"abc", -1)


def test_the_fastest_path_is_used_unless_one_is_chosen():
    assert set(SUPPORTED) <= set(PATH_NAMES) and SUPPORTED[0] == "table"
    if not os.environ.get("ALPHAPULSE_CRC"):
        assert ap.crc32_implementation() == SUPPORTED[-1]


def _with_path(path: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "ALPHAPULSE_CRC": path})


BATCH_UNDER_PATH = """
import alphapulse_codec as ap
from alphapulse_codec.capture.batch import decode_batch
from alphapulse_codec.samples.synthetic import generate
data = bytearray(generate(5000, seed=5))
first = len(decode_batch(bytes(data)))
end = 0
for _, message in zip(range(2500), ap.iter_frames(bytes(data))):
    end += message.size
data[end - 1] ^= 1   # the last byte of frame 2500, which its checksum covers
result = decode_batch(bytes(data))
print(ap.crc32_implementation(), first, len(result), [e.kind for e in result.errors])
"""


@pytest.mark.parametrize("path", SUPPORTED)
def test_alphapulse_crc_chooses_the_path_of_every_check(path):
    """The frame checks of decode and batch decode run on the chosen path too."""
    run = _with_path(path, BATCH_UNDER_PATH)
    assert run.returncode == 0, run.stderr
    name, first, after, kinds = run.stdout.split(maxsplit=3)
    assert name == path and int(first) == 5000 and int(after) == 4999
    assert kinds.strip() == "['checksum_mismatch']"


@pytest.mark.parametrize("path", [name for name in PATH_NAMES if name not in SUPPORTED]
                         + ["fastest"])
def test_a_path_this_cpu_cannot_run_fails_the_import(path):
    run = _with_path(path, "import alphapulse_codec")
    assert run.returncode != 0
    assert "ImportError" in run.stderr and f"ALPHAPULSE_CRC={path!r}" in run.stderr


def test_the_paths_that_cannot_run_here_are_refused_by_name():
    for path in set(PATH_NAMES) - set(SUPPORTED):
        with pytest.raises(ValueError):
            _codec._crc32_with(path, b"abc")


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
