"""The relays under the failures of real processes: a relay killed with -9 and restarted under
its clients, a thousand connections on one relay, and a user who is not the relays' own."""
from __future__ import annotations

import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys

import pytest

import alphapulse_codec as ap
from alphapulse_codec.relay import connect
from alphapulse_codec.relay.client import relay_stats
from alphapulse_codec.wire.enums import GapReason
from relays import ROOT
from test_relay import RECEIVE_TIMEOUT, receive_bytes, trades

FAST = ap.Backoff(first=0.02, longest=0.2, give_up_after=60.0)

# an execution engine that numbers its fills itself and reconnects; it reports the last
# sequence it sent when told to stop
_ENGINE = """
import signal, sys, time
import alphapulse_codec as ap
sys.path.insert(0, "tests")  # the test helpers, from the repository root
from frames import zeroed
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
backoff = ap.Backoff(first=0.02, longest=0.2, give_up_after=60.0)
with ap.connect("execution", "producer", runtime_dir=sys.argv[1], sequence="auto",
                source=ap.SourceType.ExecutionEngine, reconnect=backoff) as producer:
    print("connected", flush=True)
    fill = zeroed(ap.Fill, client_order_id=1, last_quantity=1, source=ap.SourceType.ExecutionEngine).to_bytes()
    while not stopping:
        producer.send_batch(fill * 20)
        time.sleep(0.002)
    print(producer.next_sequence() - 1, flush=True)
"""


def test_a_relay_killed_and_restarted_loses_nothing_without_a_gap_report(runtime_dir, relays):
    relay = relays("execution")
    engine = subprocess.Popen([sys.executable, "-c", _ENGINE, str(runtime_dir)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sequences: list[int] = []
    try:
        assert engine.stdout.readline() == "connected\n"
        with connect("execution", "consumer", runtime_dir=runtime_dir, reconnect=FAST,
                     types=["Fill"]) as consumer:

            def take(until) -> None:
                while not until():
                    batch = consumer.recv_batch(timeout=RECEIVE_TIMEOUT)
                    assert len(batch), "the fills stopped coming"
                    sequences.extend(batch[ap.MessageType.Fill]["header"]["sequence"].tolist())

            take(lambda: len(sequences) >= 2000)
            relay.kill()  # mid-stream: the engine is sending
            relays("execution")
            take(lambda: consumer.reconnects and len(sequences) >= 4000)
            engine.send_signal(15)
            last = int(engine.stdout.readline())
            take(lambda: sequences[-1] == last)
            gaps = consumer.gaps
        engine.wait(timeout=30)
    finally:
        if engine.poll() is None:  # the test failed on the way
            engine.kill()
            engine.wait()
    assert engine.returncode == 0, engine.stderr.read()
    # nothing duplicated or reordered: the sequences rise strictly
    assert all(b > a for a, b in zip(sequences, sequences[1:]))
    # nothing lost without a gap report: from the first fill the consumer got (the engine
    # started before it subscribed), every missing sequence lies in a reported gap
    missing = set(range(sequences[0], last + 1)) - set(sequences)
    covered = {n for g in gaps if g.source == ap.SourceType.ExecutionEngine
               for n in range(g.first, g.last + 1)}
    assert missing <= covered
    assert any(g.reason == GapReason.RelayRestart for g in gaps)
    assert sequences[-1] == last


def test_a_thousand_connections_on_one_relay(runtime_dir, relays):
    wanted = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * wanted + 256  # this process's ends, and the relay's (it inherits the limit)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard limit of open files is {hard}, under the {needed} this needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    consumers = []
    try:
        relays("market_data")
        for number in range(wanted):
            consumers.append(connect("market_data", "consumer", runtime_dir=runtime_dir,
                                     name=f"c{number}", timeout=RECEIVE_TIMEOUT))
        sent = trades(10)
        with connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
            producer.send_batch(sent)
        for consumer in consumers:
            assert receive_bytes(consumer, len(sent)) == sent
        report = relay_stats("market_data", runtime_dir=runtime_dir)
        assert sum(1 for c in report["connections"] if c["name"].startswith("c")) == wanted
        assert report["frames_in"] == 10
    finally:
        for consumer in consumers:
            consumer.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


OTHER_USER = "alphapulse-other"


@pytest.fixture
def other_user():
    if os.geteuid() != 0:
        pytest.skip("creating a second user to connect as needs root")
    if shutil.which("useradd") is None:
        pytest.skip("no useradd on this machine to create a second user")
    try:
        return pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        OTHER_USER], check=True, capture_output=True)
        return pwd.getpwnam(OTHER_USER)


def test_another_user_cannot_connect(runtime_dir, relays, other_user):
    relays("execution")
    path = runtime_dir / "execution.sock"
    child = os.fork()
    if child == 0:  # as the other user: a plain connect to the socket
        code = 3
        try:
            os.setgroups([])
            os.setgid(other_user.pw_gid)
            os.setuid(other_user.pw_uid)
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
                code = 0
            except PermissionError:
                code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 1  # refused by the permissions
    with connect("execution", "consumer", runtime_dir=runtime_dir) as consumer:
        assert consumer.connection_id > 0  # the relays' own user still can
