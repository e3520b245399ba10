"""Captures read as a stream: iter_messages recovers as the batch path does, and every command
that reads a capture reads stdin, in bounded memory, as the bytes come, and goes on past a bad
stretch."""
from __future__ import annotations

import io
import json
import os
import pty
import select
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.capture import BadStretch, iter_batches, iter_messages
from alphapulse_codec.capture.batch import BatchResult, decode_batch
from alphapulse_codec.capture.stream import DEFAULT_CHUNK_BYTES
from alphapulse_codec.samples.synthetic import write_capture
from frames import zeroed

DATA = Path(__file__).parent / "data"
VECTORS = DATA / "peer-v1.bin"
CLI = [sys.executable, "-m", "alphapulse_codec"]


def cli(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *argv], input=stdin, capture_output=True)


def split(items) -> tuple[list, list[BadStretch]]:
    items = list(items)
    return ([i for i in items if not isinstance(i, BadStretch)],
            [i for i in items if isinstance(i, BadStretch)])


def read(stream) -> tuple[list[int], list[BadStretch]]:
    """The byte offset of each message a MessageStream yields, and its bad stretches."""
    offsets, stretches = [], []
    for item in stream:
        if isinstance(item, BadStretch):
            stretches.append(item)
        else:
            offsets.append(stream.position - item.size)
    return offsets, stretches


def batch_offsets(result: BatchResult) -> list[int]:
    return sorted(int(o) for t in result.types for o in result.offsets(t))


class Dribble(io.RawIOBase):
    """A stream that hands out a few bytes per read, as a slow pipe does, and counts reads."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.at, self.reads = data, sizes, 0, 0

    def read1(self, size: int) -> bytes:
        piece = min(size, self.sizes[self.reads % len(self.sizes)])
        self.reads += 1
        out = self.data[self.at:self.at + piece]
        self.at += len(out)
        return out

    def readinto(self, buffer) -> int:
        out = self.read1(len(buffer))
        buffer[:len(out)] = out
        return len(out)


DAMAGE = {
    "noise between frames": lambda v: v[:447] + b"noise" + v[447:],
    "a flipped byte": lambda v: v[:300] + bytes([v[300] ^ 0xFF]) + v[301:],
    "a frame cut short": lambda v: v[:1000] + v[1010:],
    "a cut end": lambda v: v[:-10],
    "garbage first": lambda v: b"\x00" * 100 + v,
    "a false magic": lambda v: v[:447] + b"\xef\xbe\xad\xde" + b"\x01" * 40 + v[447:],
    "a damaged size field": lambda v: v[:104 + 8] + b"\xff\xff\x00\x00" + v[104 + 12:],
    "nothing but garbage": lambda v: bytes(range(256)) * 4,
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("chunk_bytes", [4096, 5000, 1 << 20])
def test_the_stream_reports_the_batch_paths_stretches(vector_bytes, damage, chunk_bytes):
    data = DAMAGE[damage](vector_bytes)
    whole = decode_batch(data)
    offsets, stretches = read(iter_messages(io.BytesIO(data), chunk_bytes=chunk_bytes))
    assert stretches == whole.errors and whole.errors
    assert offsets == batch_offsets(whole)


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_path_a_buffer_and_a_trickling_stream_read_alike(vector_bytes, tmp_path, damage):
    data = DAMAGE[damage](vector_bytes)
    path = tmp_path / "damaged.bin"
    path.write_bytes(data)
    expected = split(iter_messages(path))
    for source in (data, bytearray(data), Dribble(data, [1, 7, 100, 3, 31])):
        messages, stretches = split(iter_messages(source))
        assert stretches == expected[1]
        assert [m.to_bytes() for m in messages] == [m.to_bytes() for m in expected[0]]


@given(st.lists(st.tuples(st.integers(0, 84_000), st.sampled_from(["flip", "cut", "insert"]),
                          st.binary(min_size=1, max_size=60)), min_size=1, max_size=4))
def test_any_damage_gives_the_batch_paths_stretches(vector_bytes, edits):
    data = bytearray(vector_bytes)
    for at, edit, junk in edits:
        at %= len(data)
        if edit == "flip":
            data[at] ^= junk[0] or 1
        elif edit == "cut":
            del data[at:at + len(junk)]
        else:
            data[at:at] = junk
    whole = decode_batch(bytes(data))
    offsets, stretches = read(iter_messages(Dribble(bytes(data), [4096, 13, 999]),
                                            chunk_bytes=4096))
    assert offsets == batch_offsets(whole) and stretches == whole.errors


def test_frames_larger_than_the_chunk(tmp_path):
    book = zeroed(ap.OrderBook, bids=[(i, i) for i in range(20_000)], sequence=1).to_bytes()  # 320 KB
    trade = zeroed(ap.Trade, price=5, sequence=2).to_bytes()
    data = trade + book + b"junk" + trade + book
    messages, stretches = split(iter_messages(io.BytesIO(data), chunk_bytes=4096))
    assert [type(m) for m in messages] == [ap.Trade, ap.OrderBook] * 2
    assert stretches == decode_batch(data).errors == [BadStretch(len(trade + book), 4, "bad_magic")]


def test_a_long_hostile_stretch_streams_at_a_bounded_cost_per_byte():
    # Trade headers back to back, each claiming the largest frame allowed, so that every one is
    # a candidate whose claimed frame lies in the capture and passes the structure checks (its
    # claimed tail, the headers after it, walks as TLVs): only its checksum refuses it. Checked
    # one by one from the start, each would cost the megabyte it claims.
    header = struct.pack("<IBBBBIQQI", 0xDEADBEEF, ap.MessageType.Trade, 1, 0, 0,
                         ap.DEFAULT_MAX_FRAME_SIZE - 32, 0, 0, 0)
    count = 3 * 2**20 // len(header)
    trade = zeroed(ap.Trade, price=5, sequence=1).to_bytes()
    data = trade + header * count + bytes(ap.DEFAULT_MAX_FRAME_SIZE) + trade
    stream = iter_messages(io.BytesIO(data))
    offsets, stretches = read(stream)
    assert offsets == [0, len(data) - len(trade)]
    assert stretches == decode_batch(data).errors == [
        BadStretch(len(trade), len(data) - 2 * len(trade), "checksum_mismatch")]
    # each header is checked once, and once more when a read cut its claimed frame; the
    # checksums go over a few times the capture's bytes, not the megabyte each header claims
    reads = len(data) // DEFAULT_CHUNK_BYTES + 2
    assert count <= stream.resync.candidates <= count + reads
    assert stream.resync.checksummed_bytes <= 4 * len(data)


def test_types_keep_only_those_messages_and_announcements_are_learned():
    announced = ap.Schema(message_type=233, version=1, name="Announced", fields=[("x", "u32")])
    frame = ap.Registry().register(announced)(x=5).to_bytes()
    data = zeroed(ap.Trade, price=1).to_bytes() + announced.announce() + frame
    registry = ap.Registry()
    stream = iter_messages(data, registry=registry, types=[233])
    messages, _ = split(stream)
    assert [m.x for m in messages] == [5] and 233 in stream.registry
    assert 233 not in registry  # learned into the stream's own overlay
    shared = ap.Registry()
    split(iter_messages(data, learn_into=shared))
    assert 233 in shared


def test_the_stream_reads_a_chunk_at_a_time_and_yields_before_reading_on(tmp_path):
    path = tmp_path / "capture.bin"
    write_capture(path, 20_000)
    source = Dribble(path.read_bytes(), [1 << 30])
    stream = iter(iter_messages(source, chunk_bytes=4096))
    next(stream)
    assert source.at == 4096  # one read so far, of one chunk
    assert sum(1 for _ in stream) == 19_999 and source.reads > 300


def test_iter_batches_of_a_stream_equals_iter_batches_of_a_path(vector_bytes):
    data = DAMAGE["noise between frames"](vector_bytes)
    joined = BatchResult.concat(iter_batches(Dribble(data, [5000]), chunk_bytes=4096))
    whole = decode_batch(data)
    assert joined.errors == whole.errors and batch_offsets(joined) == batch_offsets(whole)


def test_decode_in_bounded_memory(tmp_path):
    path = tmp_path / "capture.bin"
    write_capture(path, 150_000)
    assert path.stat().st_size > 10 << 20
    script = (
        "import resource, sys\n"
        "from alphapulse_codec.cli import main\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "code = main(['decode', sys.argv[1], '--chunk-bytes', '65536', '-o', sys.argv[2]])\n"
        "print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    out = tmp_path / "out.jsonl"
    result = subprocess.run([sys.executable, "-c", script, str(path), str(out)],
                            capture_output=True, text=True, check=True)
    code, grown_kib = map(int, result.stdout.split())
    assert code == 0 and grown_kib < 8 << 10  # a 10 MiB capture
    with open(out) as lines:
        assert sum(1 for _ in lines) == 150_000


def test_a_small_chunk_size_changes_nothing(tmp_path, vector_bytes):
    capture = tmp_path / "damaged.bin"
    capture.write_bytes(DAMAGE["a frame cut short"](vector_bytes) * 3)
    for command in (["decode"], ["inspect"], ["stats"]):
        small = cli(*command, str(capture), "--chunk-bytes", "4096")
        default = cli(*command, str(capture))
        assert small.stdout == default.stdout and small.stderr == default.stderr
        assert small.returncode == 1 and small.stderr.count(b"\n") == 3


def _read_until(stream, text: str) -> str:
    """What the process printed, up to `text`; fails if it prints nothing more for 2 min."""
    seen = ""
    while text not in seen:
        ready, _, _ = select.select([stream], [], [], 120)
        piece = os.read(stream.fileno(), 1 << 16).decode() if ready else ""
        assert piece, f"nothing more printed after {seen!r}"
        seen += piece
    return seen


def test_inspect_prints_a_row_before_the_writer_closes_the_pipe(vector_bytes):
    process = subprocess.Popen([*CLI, "inspect", "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    try:
        process.stdin.write(vector_bytes[:271])  # two frames, and the pipe stays open
        process.stdin.flush()
        first = _read_until(process.stdout, "PoolDiscovered")
        process.stdin.write(vector_bytes[271:])
        process.stdin.close()
        rest = process.stdout.read().decode()
        assert process.wait() == 0
    finally:
        process.kill()
    assert (first + rest).count("\n") == 601


@pytest.mark.parametrize("command", [["decode"], ["decode", "--to", "OUT.jsonl"], ["inspect"],
                                     ["stats"]])
def test_every_command_reads_stdin(tmp_path, vector_bytes, command):
    damaged = DAMAGE["noise between frames"](vector_bytes)
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    from_stdin = cli(*argv, "-", stdin=damaged)
    (tmp_path / "c.bin").write_bytes(damaged)
    from_file = cli(*argv, str(tmp_path / "c.bin"))
    assert from_stdin.returncode == from_file.returncode == 1
    assert from_stdin.stdout == from_file.stdout and b"Traceback" not in from_stdin.stderr
    assert b"alphapulse: bad stretch: 5 bytes at byte 447, bad_magic\n" in from_stdin.stderr


def test_jsonl_decode_goes_on_past_bad_stretches_and_reports_each(tmp_path, vector_bytes):
    capture = tmp_path / "damaged.bin"
    capture.write_bytes(DAMAGE["a frame cut short"](DAMAGE["noise between frames"](vector_bytes)))
    result = cli("decode", str(capture))
    batch = decode_batch(capture)
    assert result.returncode == 1 and len(batch.errors) == 2
    assert result.stderr.decode().splitlines() == [
        f"alphapulse: bad stretch: {s.length} bytes at byte {s.offset}, {s.kind}"
        for s in batch.errors]
    written = [json.loads(line) for line in result.stdout.splitlines()]
    assert [w["header"]["sequence"] for w in written] == sorted(
        int(batch[t]["header"]["sequence"][i]) for t in batch.types for i in range(len(batch[t])))


def test_inspect_shows_a_bad_stretch_between_the_frames_around_it(tmp_path, vector_bytes):
    capture = tmp_path / "damaged.bin"
    capture.write_bytes(DAMAGE["noise between frames"](vector_bytes))
    result = cli("inspect", str(capture), "--limit", "6")
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 1 and len(lines) == 8
    assert lines[4].split()[:4] == ["3", "383", "64", "Trade"]
    assert lines[5] == "bad stretch: 5 bytes at byte 447, bad_magic"
    assert lines[6].split()[:4] == ["4", "452", "144", "PoolArbitrageSignal"]


def test_inspect_of_a_damaged_file_prints_the_frames_it_can(tmp_path, vector_bytes):
    capture = tmp_path / "damaged.bin"
    capture.write_bytes(b"\x00" * 40 + vector_bytes[:500])
    result = cli("inspect", str(capture))
    lines = result.stdout.decode().splitlines()
    assert lines[1] == "bad stretch: 40 bytes at byte 0, bad_magic"
    assert [line.split()[3] for line in lines[2:6]] == [
        "LiquidityImbalance", "PoolDiscovered", "MEVOpportunity", "Trade"]
    assert lines[6].startswith("bad stretch: ") and lines[6].endswith("truncated")


def _run_on_a_terminal(argv: list[str]) -> bytes:
    """Run the command with stderr on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*CLI, *argv], stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            piece = os.read(leader, 1 << 16)
        except OSError:  # the terminal closed with the process
            break
        if not piece:
            break
        seen += piece
    process.wait()
    os.close(leader)
    return seen


@pytest.mark.parametrize("command", [["decode"], ["decode", "--to", "OUT.npz"], ["inspect"],
                                     ["stats"]])
def test_a_progress_bar_on_a_terminal_only(tmp_path, command):
    capture = tmp_path / "c.bin"
    write_capture(capture, 2_000)
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in command] + [str(capture)]
    assert b"reading" in _run_on_a_terminal(argv)
    piped = cli(*argv)
    assert piped.returncode == 0 and b"reading" not in piped.stderr
    assert b"\x1b[" not in piped.stderr
