"""benchmarks/transports.py runs whole with small counts (--quick) and prints every transport's
row, the NATS publishing rows and every target's verdict; what the figures are is the
benchmark's business, not a test's."""
from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"[\d,]+(?:\.\d+)?"
GUARD = 30  # seconds: only a hang guard
LOCAL_ROWS = ["Unix-socket relay", "relay over TCP, loopback", "shared-memory ring",
              "in-process channel (threads)"]
SERVED_ROWS = {"NATS core": "nats-server", "Redis Streams": "redis-server"}
TARGETS = ["ring 1->1 >= 20,000,000 frames/s", "ring 1->1 >= 3x the Unix relay",
           "ring p50 <= 1 us (busy-spin)", "ring p99 <= 5 us (busy-spin)",
           "channel 1->1 >= 20,000,000 frames/s"]
NATS_TARGETS = ["NATS 1->1 delivered >= 1,500,000 frames/s",
                "NATS publish time <= 1.2x bare nats-py", "JetStream publish >= 200,000 frames/s"]
REDIS_TARGETS = ["Redis 1->1 delivered >= 500,000 frames/s"]


def installed(name: str) -> bool:
    return bool(shutil.which(name) or Path(f"/usr/sbin/{name}").exists())


def test_the_transports_benchmark_prints_every_transport_and_target():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "transports.py"),
                             "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.match(rf"CPU: .+; \d+ cores; load average {NUMBER} {NUMBER} {NUMBER}", out)
    assert "every row through alphapulse_codec.connect('market_data', role, config=...)" in out
    nats, redis = installed("nats-server"), installed("redis-server")
    for row in LOCAL_ROWS + [row for row, server in SERVED_ROWS.items() if installed(server)]:
        # 1->1 and 1->4 frames/s, frames lost, p50 and p99 us, the design's figures
        assert re.search(rf"^{re.escape(row)} +{NUMBER} +{NUMBER} +[\d,]+ +{NUMBER} +{NUMBER}"
                         r"   \S", out, re.M), row
    for row, server in SERVED_ROWS.items():
        if not installed(server):
            assert f"{row:<30} skipped: {server} is not installed" in out
    floor = re.search(rf"^  bare shared page, no ring +({NUMBER}) +({NUMBER})   the floor", out, re.M)
    if len(os.sched_getaffinity(0)) >= 2:
        assert floor and 0 < float(floor[1]) <= float(floor[2]), out
    else:
        assert floor is None
    assert publishing_rows(out) == nats
    assert latency_rows(out) == nats
    expected = TARGETS + (NATS_TARGETS if nats else []) + (REDIS_TARGETS if redis else [])
    verdicts = re.findall(rf"^  (.+?) +{NUMBER}   (met|missed)$", out, re.M)
    assert [title for title, _ in verdicts] == expected
    assert re.search(rf"^load average after the run: {NUMBER} {NUMBER} {NUMBER}$", out, re.M)


def latency_rows(out: str) -> bool:
    """Whether the NATS latency rows, bare nats-py's and ours beside it, are printed (else
    none is)."""
    figures = rf"p50 {NUMBER} us, p99 {NUMBER} us, [\d,]+ lost"
    cpu = rf"CPU a frame: producer {NUMBER} us, consumer {NUMBER} us"
    rows = [re.search(rf"^NATS latency, bare nats-py +{figures}; {cpu} \(asyncio publisher and"
                      r" subscriber", out, re.M),
            re.search(rf"^NATS latency, ours \(asyncio\) +{figures}, p50 {NUMBER}x bare's;"
                      rf" {cpu} \(aio.connect", out, re.M),
            re.search(rf"^NATS latency, ours \(blocking\) +{figures}, p50 {NUMBER}x bare's;"
                      rf" {cpu} \(connect's", out, re.M)]
    assert all(rows) or not any(rows), out
    return all(rows)


def publishing_rows(out: str) -> bool:
    """Whether every NATS publishing row is printed (else none is)."""
    rows = [re.search(rf"^NATS publish, bare nats-py +{NUMBER} frames/s", out, re.M),
            re.search(rf"^NATS publish, ours \(asyncio\) +{NUMBER} frames/s, {NUMBER}x bare's"
                      rf" time, CPU {NUMBER}x", out, re.M),
            re.search(rf"^NATS publish, ours \(blocking\) +{NUMBER} frames/s, {NUMBER}x bare's"
                      rf" time, CPU {NUMBER}x .* costs [+-]{NUMBER} ns a frame", out, re.M),
            re.search(rf"^NATS JetStream publish +{NUMBER} frames/s", out, re.M)]
    assert all(rows) or not any(rows), out
    return all(rows)


def test_the_publishing_rows_run_alone():
    if not installed("nats-server"):
        pytest.skip("nats-server is not installed (.ci/run installs it)")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "transports.py"),
                             "--quick", "--publishing-only"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert publishing_rows(result.stdout)
    assert "NATS latency, bare nats-py" not in result.stdout  # a latency run is not publishing
    assert not re.search(r"^(NATS core|Unix-socket relay) ", result.stdout, re.M)
    verdicts = re.findall(rf"^  (.+?) +{NUMBER}   (met|missed)$", result.stdout, re.M)
    assert [title for title, _ in verdicts] == NATS_TARGETS[1:]


def test_floor_prints_hiccups_per_core_and_every_one_hop_row():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "floor.py"),
                             "--seconds", "0.2", "--messages", "500", "--rate", "20000"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = re.findall(rf"^ +(\d+) +({NUMBER})% +{NUMBER} +({NUMBER}) +({NUMBER}) +({NUMBER})"
                      rf" +({NUMBER})%$", result.stdout, re.M)
    assert sorted(int(row[0]) for row in rows) == sorted(os.sched_getaffinity(0))
    for _, lost, p50, p99, longest, late in rows:
        assert float(p50) <= float(p99) <= float(longest.replace(",", ""))
        assert float(late) <= float(lost) <= 100
    hops = re.findall(rf"^(blocking|spinning), (other|same) core +({NUMBER}) +({NUMBER})$",
                      result.stdout, re.M)
    places = ["other", "same"] if len(os.sched_getaffinity(0)) >= 2 else ["same"]
    assert [(how, where) for how, where, _, _ in hops] == \
        [(how, where) for how in ("blocking", "spinning") for where in places], result.stdout
    for _, _, p50, p99 in hops:
        assert 0 < float(p50) <= float(p99)
    page = re.search(rf"^Shared memory: 2,000 clock stamps .* \(([\d,]+) read, .*\): p50"
                     rf" ({NUMBER}) us, p99 ({NUMBER}) us$", result.stdout, re.M)
    if len(os.sched_getaffinity(0)) >= 2:
        assert page, result.stdout
        # the page holds 32,768 stamps: a run of 2,000 never laps its reader, which reads them all
        assert page[1] == "2,000" and 0 < float(page[2]) <= float(page[3])
    else:
        assert "Shared memory: needs two cores, skipped" in result.stdout


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waits for its parent to collect it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the page's watcher needs two cores")
def test_the_page_watcher_does_not_outlive_a_killed_writer():
    # a writer of stamps it would take days to write, killed as a run's timeout kills it
    writer = subprocess.Popen([sys.executable, "-c",
                               "import floor; floor.shared_memory_hop(10**9, 1000)"],
                              cwd=ROOT / "benchmarks")
    children = Path(f"/proc/{writer.pid}/task/{writer.pid}/children")
    watchers: list[int] = []
    try:
        deadline = time.monotonic() + GUARD
        while not watchers and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            watchers = [int(pid) for pid in children.read_text().split()]
        assert watchers, "the writer started no watcher"
        writer.kill()
        writer.wait(GUARD)
        deadline = time.monotonic() + GUARD
        while running(watchers[0]) and time.monotonic() < deadline:
            time.sleep(0.02)
        # it spun on its core, waiting for a last stamp that would never come
        assert not running(watchers[0])
    finally:
        writer.kill()
        for pid in watchers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)



@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the page's watcher needs two cores")
def test_the_page_floor_reads_every_stamp_in_turn():
    # stamps written while the watcher did not run each count their wait, as frames in a ring
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import floor
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    page = mmap.mmap(-1, floor.SLOT_OFFSET + 8 * floor.SLOTS)
    written = time.perf_counter_ns() - 1000 * np.arange(1_000, 0, -1)
    for number, stamp in enumerate(written, 1):
        floor.STAMP.pack_into(page, floor.SLOT_OFFSET + 8 * (number - 1), int(stamp))
    floor.STAMP.pack_into(page, 0, len(written))
    fork = multiprocessing.get_context("fork")
    result = fork.Queue()
    watcher = fork.Process(target=floor.watch_page,
                           args=(page, len(written), sorted(os.sched_getaffinity(0))[1], os.getpid(), result))
    watcher.start()
    latencies = result.get(timeout=GUARD)
    watcher.join(GUARD)
    assert len(latencies) == len(written)
    read_at = written + latencies  # on the one monotonic clock: read in the order written
    assert (latencies > 0).all() and (np.diff(read_at) >= 0).all()
