"""How a client waits between attempts to reach a relay that went away: exponential delays,
bounded, jittered so that the clients of a restarted relay do not all knock at once, and a
limit after which the client gives up with the last error."""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..wire.errors import FieldValueError, RelayClosedError

log = logging.getLogger("alphapulse_codec.relay")


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: ``first`` seconds, times ``factor`` after each
    failure up to ``longest``, each one drawn within ``jitter`` (a fraction) around its value;
    after ``give_up_after`` seconds of failures the client raises the last error (None: it
    tries for ever)."""

    first: float = 0.05
    longest: float = 2.0
    factor: float = 2.0
    jitter: float = 0.25
    give_up_after: float | None = 60.0

    def __post_init__(self) -> None:
        for name in ("first", "longest", "factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise FieldValueError(f"{name}: expected a positive number, got {value!r}",
                                      field=name)
        if self.longest < self.first:
            raise FieldValueError(f"longest: {self.longest} is below first {self.first}",
                                  field="longest")
        if self.factor < 1:
            raise FieldValueError(f"factor: expected at least 1, got {self.factor}",
                                  field="factor")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, (int, float)) \
                or not 0 <= self.jitter < 1:
            raise FieldValueError(f"jitter: expected a fraction in [0, 1), got {self.jitter!r}",
                                  field="jitter")
        limit = self.give_up_after
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                                  or not limit > 0):
            raise FieldValueError(f"give_up_after: expected a positive number of seconds or"
                                  f" None, got {limit!r}", field="give_up_after")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The successive waits, without end."""
        draw = rng or random.Random()
        delay = float(self.first)
        while True:
            yield delay * (1 + self.jitter * (2 * draw.random() - 1))
            delay = min(self.longest, delay * self.factor)


NO_RECONNECT = None


def backoff_of(reconnect: bool | Backoff | None) -> Backoff | None:
    """The Backoff a ``reconnect=`` argument asks for: True the default one, False or None
    none (the client raises when the relay goes away)."""
    if reconnect is True:
        return Backoff()
    if reconnect is None or reconnect is False:
        return NO_RECONNECT
    if isinstance(reconnect, Backoff):
        return reconnect
    raise FieldValueError(f"reconnect: expected True, False or a Backoff, got"
                          f" {type(reconnect).__name__}", field="reconnect")


class Retry:
    """The attempts to reach one relay again: how many, since when, the next delay; logged,
    and given up with RelayClosedError once the backoff's time is spent."""

    def __init__(self, backoff: Backoff, relay: str, why: str) -> None:
        self.backoff = backoff
        self.relay = relay
        self.why = why
        self.attempts = 0
        self.started = time.monotonic()
        self._delays = backoff.delays()
        log.warning("%s: %s; reconnecting", relay, why)

    def next_delay(self, error: BaseException) -> float:
        """The wait before the next attempt, after ``error`` ended this one."""
        self.attempts += 1
        delay = next(self._delays)
        waited = time.monotonic() - self.started
        limit = self.backoff.give_up_after
        if limit is not None and waited + delay > limit:
            raise RelayClosedError(f"{self.relay}: {self.why}, and {self.attempts} attempt(s)"
                                   f" over {waited:.1f} s to connect again failed: {error}")
        log.info("%s: attempt %d failed (%s); next in %.2f s", self.relay, self.attempts,
                 error, delay)
        return delay

    def succeeded(self) -> None:
        log.warning("%s: connected again after %d failed attempt(s), %.2f s", self.relay,
                    self.attempts, time.monotonic() - self.started)
