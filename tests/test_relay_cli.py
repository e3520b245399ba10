"""``alphapulse relay`` runs the four relays and stops them together; ``relay stats`` reports."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import alphapulse_codec as ap
from alphapulse_codec.relay import DOMAINS, connect
from alphapulse_codec.relay.client import relay_stats
from alphapulse_codec.wire.errors import RelayError
from relays import ROOT, START_TIMEOUT, STOP_TIMEOUT, connectable
from test_relay import receive_bytes, trades
from frames import zeroed
from test_relay_failures import wait_for


def alphapulse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alphapulse_codec", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=STOP_TIMEOUT)


def every_relay(runtime_dir: Path) -> subprocess.Popen:
    """``alphapulse relay`` in ``runtime_dir``, once its four relays listen."""
    process = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "relay",
                                "--runtime-dir", str(runtime_dir)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT
    while not all(connectable(runtime_dir / f"{d}.sock") for d in DOMAINS):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the relays did not all listen: {process.communicate()[1]}")
        time.sleep(0.05)
    return process


def test_relay_runs_every_domain_and_stops_them_on_sigint(runtime_dir):
    process = every_relay(runtime_dir)
    try:
        sent = trades(100)
        with connect("market_data", "consumer", runtime_dir=runtime_dir, name="cli-test") as consumer, \
                connect("market_data", "producer", runtime_dir=runtime_dir) as producer:
            producer.send_batch(sent)
            assert receive_bytes(consumer, len(sent)) == sent
            report = alphapulse("relay", "stats", "--runtime-dir", str(runtime_dir), "--json")
            table = alphapulse("relay", "stats", "--domain", "market_data",
                               "--runtime-dir", str(runtime_dir))
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not any((runtime_dir / f"{d}.sock").exists() for d in DOMAINS)
    relays = {r["domain"]: r for r in json.loads(report.stdout)["relays"]}
    assert set(relays) == set(DOMAINS)
    market = relays["market_data"]
    # frames out count the relay's own too: here the consumer's welcome; the relay's total
    # counts what went to consumers, not the producer's welcome nor the monitor's statistics
    assert market["frames_in"] == 100 and market["frames_out"] == 101
    names = {c["name"]: c for c in market["connections"]}
    assert names["cli-test"]["frames_out"] == 101 and names["cli-test"]["role"] == 2
    (producer_record,) = [c for c in market["connections"] if c["role"] == 1]
    assert producer_record["frames_out"] == 1
    assert table.returncode == 0 and "cli-test" in table.stdout and "market_data relay" in table.stdout


def test_a_relay_killed_stops_the_others_and_the_command_says_which_exit_2(runtime_dir):
    process = every_relay(runtime_dir)
    try:
        pid = relay_stats("signals", runtime_dir=runtime_dir)["relay_pid"]
        os.kill(pid, signal.SIGKILL)
        _, err = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2
    assert ("alphapulse: error: the signals relay stopped (killed by SIGKILL); stopping the"
            " others\n") in err
    assert "Traceback" not in err
    # the others stopped cleanly, their sockets removed; the killed one left its own
    assert [d for d in DOMAINS if (runtime_dir / f"{d}.sock").exists()] == ["signals"]


def test_relay_stats_prints_a_connection_s_refusals_by_reason(runtime_dir, relays):
    relays("execution")

    def order(sequence: int) -> bytes:
        return zeroed(ap.OrderRequest, quantity=1, sequence=sequence,
                      source=ap.SourceType.PortfolioManager).to_bytes()

    with connect("execution", "producer", runtime_dir=runtime_dir, name="sender") as producer:
        producer.send(order(1))
        producer.send(order(1))
        producer.send(order(1))
        producer.send(zeroed(ap.Trade, sequence=2, source=ap.SourceType.PortfolioManager).to_bytes())
        producer.send(order(2))  # answered after the refusals before it: they are all counted

        def answered() -> bool:
            producer.flush()
            return len(producer.errors) >= 3

        wait_for(answered, "the relay's three Error answers")
        table = alphapulse("relay", "stats", "--domain", "execution", "--runtime-dir",
                           str(runtime_dir))
    assert table.returncode == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if " sender " in line]
    assert "3 (wrong domain 1, sequence 2)" in row


def test_relay_stats_without_relays_is_one_line_and_exit_2(runtime_dir):
    result = alphapulse("relay", "stats", "--runtime-dir", str(runtime_dir))
    assert result.returncode == 2
    assert "no relay answered" in result.stderr and "Traceback" not in result.stderr


def test_a_relay_beside_a_live_one_exits_2_with_the_reason(runtime_dir):
    first = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "relay", "--domain",
                              "execution", "--runtime-dir", str(runtime_dir)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not connectable(runtime_dir / "execution.sock"):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = alphapulse("relay", "--domain", "execution", "--runtime-dir", str(runtime_dir))
        assert second.returncode == 2
        assert second.stderr == (f"alphapulse: error: {runtime_dir / 'execution.sock'}: an"
                                 " execution relay is already running there; stop it first or"
                                 " use another --runtime-dir\n")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=STOP_TIMEOUT)
    assert first.returncode == 0


def test_a_relative_runtime_dir_is_refused_once_before_any_relay_starts(runtime_dir):
    result = alphapulse("relay", "--runtime-dir", "relx")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("alphapulse: error: runtime directory relx: not an absolute path:"
                             " choose another with --runtime-dir\n")
    assert not (ROOT / "relx").exists()


@pytest.mark.parametrize("one", [["--domain", "signals"], []])
def test_a_runtime_dir_too_long_for_a_socket_is_refused_before_it_is_made(runtime_dir, one):
    too_long = runtime_dir / ("x" * 120)
    result = alphapulse("relay", *one, "--runtime-dir", str(too_long))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"alphapulse: error: {too_long}/")
    assert "more than the 107 a Unix socket address holds" in result.stderr
    assert not too_long.exists()
    with pytest.raises(RelayError, match="no signals relay can be at .* more than the 107"):
        connect("signals", "consumer", runtime_dir=too_long)


@pytest.mark.parametrize("action", [[], ["stats"]])
def test_a_config_with_no_domain_on_a_relay_is_refused_not_served(runtime_dir, action):
    config = runtime_dir / "rings.yml"
    config.write_text(f"alphapulse:\n  runtime_dir: {runtime_dir}\n  transport: shared_memory\n")
    result = alphapulse("relay", *action, "--config", str(config))  # ran for ever without a word
    assert result.returncode == 2
    assert result.stderr == (f"alphapulse: error: {config}: no domain is on a relay (each is on"
                             " shared_memory)\n")


def test_record_refuses_an_output_it_cannot_write_before_connecting(runtime_dir):
    out = runtime_dir / "missing" / "md.bin"
    result = alphapulse("record", "--domain", "market_data", "-o", str(out), "--frames", "1",
                        "--runtime-dir", str(runtime_dir))  # no relay: the output is looked at first
    assert result.returncode == 2
    assert result.stderr == f"alphapulse: error: cannot write {out}: no directory {out.parent}\n"


def test_record_refuses_another_domains_type_before_connecting(runtime_dir):
    out = runtime_dir / "f.bin"
    result = alphapulse("record", "--domain", "market_data", "--types", "Trade,Fill",
                        "-o", str(out), "--duration", "1", "--runtime-dir", str(runtime_dir))
    assert result.returncode == 2 and not out.exists()
    assert result.stderr == ("alphapulse: error: --types: Fill is an execution type (42), not a"
                             " market_data type (1-19)\n")
