"""benchmarks/relay.py runs whole with small counts (--quick) and prints every row it
promises; what the figures are is the benchmark's business, not a test's."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from nats_peer import server_binary  # noqa: E402

NUMBER = r"[\d,]+(?:\.\d+)?"
RELAY_ROWS = ["bare asyncio relay, 64 KiB chunks", "relay, market-data policy, recv_bytes",
              "relay, market-data policy, recv_batch", "relay, execution policy, recv_bytes",
              "relay, execution policy, recv_batch", "relay, market-data, 4 consumers, recv_bytes",
              "relay, market-data, send_batch of 64", "relay, market-data, single-frame send",
              "same, send_batch of 64, batch_bytes 64 KiB",
              "same, single-frame send, batch_bytes 64 KiB"]
NATS_ROWS = ["nats-server + nats-py, 64 frames/message", "nats-server + nats-py, 1 frame/message"]


def test_the_relay_benchmark_runs_whole_and_prints_every_row():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "relay.py"), "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.match(r"CPU: .+; \d+ cores; load average", out)
    nats = server_binary() is not None
    for row in RELAY_ROWS + (NATS_ROWS if nats else []):
        # frames/s, x bare, CPU ns/frame, frames lost
        assert re.search(rf"^{re.escape(row)} +{NUMBER} +{NUMBER} +{NUMBER} +[\d,]+$", out, re.M), row
    assert re.search(rf"^4 consumers / 1 consumer, market-data recv_bytes: {NUMBER}x$", out, re.M)
    if nats:
        for batching in ("64 frames per message", "1 frame per message"):
            assert re.search(rf"^relay / nats, {batching}: +{NUMBER}x \(each send written at"
                             rf" once\), {NUMBER}x \(gathered into 64 KiB writes, as nats-py"
                             r" does\)$", out, re.M), batching
    else:
        assert "nats-server is not installed" in out
        assert not any(row in out for row in NATS_ROWS)
    check_latency_sections(out)


def check_latency_sections(out: str) -> None:
    """Both latency runs, sleeping and busy-polling, each with ordered percentiles and a
    histogram that counts every frame measured."""
    sections = out.split("\nOne-way latency")[1:]
    assert len(sections) == 2, out
    assert "sleeping until bytes come (the default)" in sections[0]
    assert "the relay busy-polling (busy_poll_us 1,000)" in sections[1]
    for section in sections:
        figures = re.search(rf"us: p50 ({NUMBER}), p90 ({NUMBER}), p99 ({NUMBER}), p99.9"
                            rf" ({NUMBER}), max ({NUMBER}); relay CPU ns/frame {NUMBER}", section)
        assert figures, section
        percentiles = [float(f.replace(",", "")) for f in figures.groups()]
        assert percentiles == sorted(percentiles)
        buckets = re.findall(rf"^ +{NUMBER} - {NUMBER} +us +({NUMBER}) +{NUMBER}%", section, re.M)
        measured = int(re.search(r"([\d,]+) frames after", section).group(1).replace(",", ""))
        assert sum(int(b.replace(",", "")) for b in buckets) == measured


def test_latency_only_runs_the_latency_section_alone():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "relay.py"), "--quick",
                             "--latency-only"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.match(r"CPU: .+; \d+ cores; load average", out)
    assert not any(row in out for row in RELAY_ROWS + NATS_ROWS)
    check_latency_sections(out)
    assert out.count("50,000 frames/s offered") == 2
