"""``alphapulse replay --from-jetstream`` against a real nats-server with JetStream: a stream
replayed from a sequence and by time into a capture, byte for byte and in order; into a running
relay, where a consumer receives it; following what is published later; messages whose bytes
are no frames left out and told; and every bad request a one-line error with exit code 2."""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("nats")

from alphapulse_codec.relay import connect  # noqa: E402
from alphapulse_codec.transport import nats as bus  # noqa: E402
from alphapulse_codec.transport.nats_replay import ReplayRangeError, StreamReader  # noqa: E402
from bus_frames import quote, trades  # noqa: E402
from relays import ROOT  # noqa: E402
from servers import free_port, start_nats  # noqa: E402
from test_relay import receive_bytes  # noqa: E402

COMMAND_TIMEOUT = 120  # an upper bound on a hang, never a pass/fail figure


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = start_nats(tmp_path_factory.mktemp("nats"))
    yield instance
    instance.stop()


def replay_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "alphapulse_codec", "replay", "--from-jetstream", *arguments]


def replay(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(replay_command(*arguments), cwd=ROOT, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT, env=env)


def publish(url: str, prefix: str, domain: str, *buffers: bytes) -> None:
    """Each buffer published as messages of 10 frames, then acknowledged by JetStream."""
    with bus.Producer(domain, servers=url, subject_prefix=prefix, jetstream=True,
                      batch_frames=10) as producer:
        for buffer in buffers:
            producer.send_batch(buffer)
            producer.flush()


def publish_raw(url: str, subject: str, payload: bytes) -> None:
    """A message of bytes that are no frames, published with bare nats-py."""
    import nats
    loop = bus._LoopThread("raw")

    async def send() -> None:
        connection = await nats.connect(url)
        await connection.jetstream().publish(subject, payload)
        await connection.close()

    try:
        loop.run(send())
    finally:
        loop.stop()


def test_from_a_sequence_the_capture_holds_frames_k_to_n_in_order(server, tmp_path):
    sent = trades(100)                                 # stream sequences 1-10, 10 frames each
    quotes = b"".join(quote(n) for n in range(1, 6))   # sequence 11
    publish(server.url, "seq", "market_data", sent, quotes)
    capture = tmp_path / "from4.bin"
    done = replay("--domain", "market_data", "--servers", server.url, "--subject-prefix", "seq",
                  "--start-sequence", "4", "-o", str(capture))
    assert done.returncode == 0, done.stderr
    assert capture.read_bytes() == sent[64 * 30:] + quotes
    size = len(sent[64 * 30:] + quotes)
    assert f"wrote 75 frames ({size:,} bytes; sequences 4-11) of SEQ_MARKET_DATA" in done.stderr

    everything = tmp_path / "all.bin"
    assert replay("--domain", "market_data", "--servers", server.url, "--subject-prefix", "seq",
                  "-o", str(everything)).returncode == 0
    assert everything.read_bytes() == sent + quotes

    only_quotes = tmp_path / "quotes.bin"
    done = replay("--domain", "market_data", "--servers", server.url, "--subject-prefix", "seq",
                  "--types", "Quote", "-o", str(only_quotes))
    assert done.returncode == 0, done.stderr
    assert only_quotes.read_bytes() == quotes


def test_by_time_since_and_until_split_the_stream_where_it_was_stored(server, tmp_path):
    first, second = trades(30, source=2), trades(30, source=2, first=31)
    publish(server.url, "time", "execution", first)
    time.sleep(0.05)  # the server's clock must move on between the two halves
    middle = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.05)
    publish(server.url, "time", "execution", second)
    since, until = tmp_path / "since.bin", tmp_path / "until.bin"
    common = ("--domain", "execution", "--servers", server.url, "--subject-prefix", "time")
    done = replay(*common, "--since", middle.isoformat(), "-o", str(since))
    assert done.returncode == 0, done.stderr
    assert since.read_bytes() == second
    naive_utc = middle.replace(tzinfo=None).isoformat()  # a time without offset is UTC
    done = replay(*common, "--until", naive_utc, "-o", str(until))
    assert done.returncode == 0, done.stderr
    assert until.read_bytes() == first


@pytest.mark.parametrize("pace", [["--max"], ["--rate", "5000"], ["--speed", "1000"]])
def test_into_a_running_relay_a_consumer_receives_the_stream(server, runtime_dir, relays, pace):
    prefix = f"relay{len(pace)}{pace[0].strip('-')}"
    sent = trades(200, source=3)
    publish(server.url, prefix, "market_data", sent)
    relays("market_data")
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer:
        done = replay("--domain", "market_data", "--servers", server.url, "--subject-prefix",
                      prefix, "--start-sequence", "6", "--runtime-dir", str(runtime_dir), *pace)
        assert done.returncode == 0, done.stderr
        assert receive_bytes(consumer, 64 * 150) == sent[64 * 50:]
    assert "replayed 150 frames (sequences 6-20 of" in done.stderr


def test_follow_goes_on_with_what_is_published_later(server, runtime_dir, relays):
    before, after = trades(20, source=6), trades(20, source=6, first=21)
    publish(server.url, "follow", "market_data", before)
    relays("market_data")
    with connect("market_data", "consumer", runtime_dir=runtime_dir) as consumer:
        follower = subprocess.Popen(
            replay_command("--domain", "market_data", "--servers", server.url, "--subject-prefix",
                           "follow", "--runtime-dir", str(runtime_dir), "--max", "--follow"),
            cwd=ROOT, stderr=subprocess.PIPE, text=True)
        try:
            assert receive_bytes(consumer, len(before)) == before
            publish(server.url, "follow", "market_data", after)
            assert receive_bytes(consumer, len(after)) == after
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(timeout=COMMAND_TIMEOUT) == 0
        except AssertionError as failure:
            follower.kill()
            raise AssertionError(f"{failure}; the replay said: {follower.stderr.read()}")
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
    assert "replayed 40 frames (sequences 1-4 of FOLLOW_MARKET_DATA)" in follower.stderr.read()


def test_a_message_that_holds_no_frames_is_told_and_left_out(server, tmp_path):
    good = trades(10, source=8)
    publish(server.url, "bad", "market_data", good)
    publish_raw(server.url, "bad.market_data.Trade", b"not a frame at all, 40 bytes long....")
    publish(server.url, "bad", "market_data", trades(10, source=8, first=11))
    capture = tmp_path / "bad.bin"
    done = replay("--domain", "market_data", "--servers", server.url, "--subject-prefix", "bad",
                  "-o", str(capture))
    assert done.returncode == 1
    assert "stream sequence 2 (bad.market_data.Trade):" in done.stderr
    assert "Traceback" not in done.stderr
    assert capture.read_bytes() == good + trades(10, source=8, first=11)


def test_a_reader_ends_at_the_streams_last_message_even_when_its_tail_was_deleted(server):
    publish(server.url, "tail", "execution", trades(30, source=2))  # sequences 1-3
    from test_transport_nats import delete_from_stream
    delete_from_stream(server.url, "TAIL_EXECUTION", 3)
    with StreamReader("execution", servers=server.url, subject_prefix="tail") as reader:
        read = []
        while not reader.done:
            read += reader.read(timeout=1.0)
    assert [m.sequence for m in read] == [1, 2]
    assert b"".join(m.data for m in read) == trades(20, source=2)
    with pytest.raises(ReplayRangeError, match="holds no message from sequence 3"):
        StreamReader("execution", servers=server.url, subject_prefix="tail", start_sequence=3)


@pytest.fixture(scope="module")
def small_stream(server):
    publish(server.url, "errs", "execution", trades(20, source=2))  # sequences 1-2
    return server


@pytest.mark.parametrize("arguments, message", [
    (["--subject-prefix", "nowhere"], "no stream NOWHERE_EXECUTION (nowhere.execution.>)"),
    (["--start-sequence", "3"], "start sequence 3 is past the end of stream ERRS_EXECUTION"),
    (["--since", "2999-01-01T00:00:00Z"], "holds no message since 2999-01-01T00:00:00+00:00"),
    (["--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 time"),
    (["--until", "2026-13-01"], "--until: '2026-13-01' is not an ISO 8601 time"),
    (["--since", "2026-01-02", "--until", "2026-01-01"], "--until 2026-01-01 is before --since"),
    (["--start-sequence", "0"], "--start-sequence: must be at least 1"),
    (["--subject-prefix", "a..b"], "subject_prefix: 'a..b', expected dot-separated"),
    (["--speed", "2"], "--speed, --rate and --max pace a relay"),
    (["--follow"], "a capture has an end"),
])
def test_bad_requests_are_one_line_errors_with_exit_code_2(small_stream, tmp_path, arguments,
                                                          message):
    capture = tmp_path / "out.bin"
    done = replay("--domain", "execution", "--servers", small_stream.url, "--subject-prefix",
                  "errs", *arguments, "-o", str(capture))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    if "--start-sequence" not in arguments[0] or arguments[1] != "0":  # argparse adds usage
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not capture.exists()


def test_a_server_that_does_not_answer_is_exit_code_2(tmp_path):
    done = replay("--domain", "execution", "--servers", f"nats://127.0.0.1:{free_port()}",
                  "-o", str(tmp_path / "out.bin"))
    assert done.returncode == 2
    assert done.stderr.startswith("alphapulse: error: NATS: none of the servers")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.bin").exists()


def test_capture_and_stream_options_are_not_mixed(tmp_path: Path):
    capture = tmp_path / "in.bin"
    capture.write_bytes(trades(1))
    done = replay("--domain", "execution", str(capture), "-o", str(tmp_path / "out.bin"))
    assert done.returncode == 2 and "reads the stream, not CAPTURE" in done.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "alphapulse_codec", "replay", str(capture),
                           "--domain", "execution", "--since", "2026-01-01"], cwd=ROOT,
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT, env=env)
    assert done.returncode == 2 and "--since: only with --from-jetstream" in done.stderr
    done = subprocess.run([sys.executable, "-m", "alphapulse_codec", "replay", "--domain",
                           "execution"], cwd=ROOT, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT, env=env)
    assert done.returncode == 2 and "give a CAPTURE to read, or --from-jetstream" in done.stderr


def test_no_relay_running_is_exit_code_2(small_stream, runtime_dir):
    done = replay("--domain", "execution", "--servers", small_stream.url, "--subject-prefix",
                  "errs", "--runtime-dir", str(runtime_dir), "--max")
    assert done.returncode == 2
    assert "no execution relay is running there" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
