"""The clock of a paced producer in the latency runs: it sleeps until each send is due; where
the runs' processes are placed (`pin`); and a spinning child's end with its parent (`die_with`).

A producer that busy-waits between sends (even yielding the core at each look) stays runnable:
on two cores shared by a producer, a relay and a consumer, the relay and the consumer it woke
wait for a core while the producer spins, and the run measures the scheduler rather than the
path of a frame. Sleeping hands the core over. Linux lets a sleep end up to the thread's timer
slack late, 50 us by default, more than the 20 us between two sends at 50,000 frames/s: the
pacing thread asks for a slack of 1 ns (prctl PR_SET_TIMERSLACK; other systems keep theirs).
The schedule is absolute, so a wake-up that comes late sends at once and the offered rate holds;
each frame's latency counts from the moment it is stamped, just before it is sent.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PR_SET_TIMERSLACK = 29
TIMER_SLACK_NS = 1


def _prctl(option: int, value: int, name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({name}) failed")


def tight_timer_slack() -> None:
    """Sleeps of the calling thread end when asked, not up to 50 us later (Linux only)."""
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, "PR_SET_TIMERSLACK")


def die_with(parent: int) -> None:
    """The calling process is killed when ``parent``, the thread that started it, ends (Linux
    only): a process spinning until its parent's last write would otherwise spin on its core
    for ever once the parent is killed (a run's timeout, a kill of the benchmark alone)."""
    if not sys.platform.startswith("linux"):
        return
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG")
    if os.getppid() != parent:  # it ended before the kernel was asked
        os._exit(1)


class Pacer:
    """Waits, sleeping, until the next of ``rate`` evenly spaced moments a second; made in the
    thread that sends, whose timer slack it tightens."""

    def __init__(self, rate: int) -> None:
        tight_timer_slack()
        self.interval = 1_000_000_000 // rate
        self.due = time.monotonic_ns()

    def wait(self) -> None:
        self.due += self.interval
        left = self.due - time.monotonic_ns()
        if left > 0:
            time.sleep(left / 1e9)


def pin(core: int | None) -> None:
    """Keeps the calling thread on ``core`` of those this process may use, where it has two
    (None: where the scheduler puts it)."""
    cores = sorted(os.sched_getaffinity(0))
    if core is not None and len(cores) >= 2:
        os.sched_setaffinity(0, {cores[core % len(cores)]})
