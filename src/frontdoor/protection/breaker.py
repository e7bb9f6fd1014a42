"""A circuit breaker for one service: stop sending to an upstream that is failing, then try it again.

Closed, it counts the outcomes of the requests it let through over a rolling WINDOW (in BUCKETS slices):
once at least ``min_requests`` ended there and ``failure_ratio`` of them failed, it opens. Open, every
request is refused at once for ``open_for``; then it is half-open and lets exactly one request through
as a probe: success closes it (with fresh counts), failure opens it again for another ``open_for``, and
a probe that ends without an answer either way (the client went away) lets the next request probe.

A failure is a 502, 503 or 504, made by the upstream or by the gateway for it (unreachable, reset,
timed out): the statuses of an upstream that cannot serve. Any other status is a success: a 500 or a
404 is the application's answer, not a sign of overload. 499 (the client closed first) counts for
nothing. Outcomes of requests admitted before the breaker opened are ignored once it is open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("frontdoor.protection")

WINDOW = 10.0  # seconds of outcomes the ratio is computed over
BUCKETS = 10
FAILURES = frozenset({502, 503, 504})
ABANDONED = 499

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"

# answers of ``allow``
ADMIT = 0
PROBE = 1
REFUSE = 2


class CircuitBreaker:
    def __init__(
        self,
        failure_ratio: float,
        min_requests: int,
        open_for: float,
        clock: Callable[[], float] = time.monotonic,
        window: float = WINDOW,
        buckets: int = BUCKETS,
        name: str = "",
        on_open: Callable[[], None] | None = None,
    ) -> None:
        self.name = name  # the service, for the log
        self.on_open = on_open
        self.failure_ratio = failure_ratio
        self.min_requests = min_requests
        self.open_for = open_for
        self.clock = clock
        self.per_slice = buckets / window  # multiplying is cheaper than dividing, per request
        self.successes = [0] * buckets
        self.failures = [0] * buckets
        self.current = int(clock() * self.per_slice)  # the slice the counts at ``current % buckets`` are for
        self.state = CLOSED
        self.open_until = 0.0
        self.probing = False
        self.opened = 0  # times it opened

    def allow(self, now: float) -> int:
        """ADMIT (closed), PROBE (this request is the half-open probe) or REFUSE."""
        state = self.state
        if state is CLOSED:
            return ADMIT
        if state is OPEN:
            if now < self.open_until:
                return REFUSE
            self.state = HALF_OPEN
            self.probing = False
        if self.probing:
            return REFUSE
        self.probing = True
        return PROBE

    def retry_after(self, now: float) -> float:
        """Seconds until a request might be let through again."""
        return max(0.0, self.open_until - now)

    def record(self, status: int) -> None:
        """The outcome of a request admitted while closed."""
        if self.state is not CLOSED or status == ABANDONED:
            return
        index = int(self.clock() * self.per_slice)
        if index != self.current:
            self._advance(index)
        slot = index % len(self.successes)
        if status in FAILURES:
            self.failures[slot] += 1
            failed = sum(self.failures)
            total = failed + sum(self.successes)
            if total >= self.min_requests and failed >= self.failure_ratio * total:
                log.warning(
                    "circuit of %s opened: %d of the last %d requests failed; refusing it for %gs",
                    self.name,
                    failed,
                    total,
                    self.open_for,
                )
                self._open()
        else:
            self.successes[slot] += 1

    def probed(self, status: int) -> None:
        """The outcome of the half-open probe."""
        self.probing = False
        if self.state is not HALF_OPEN or status == ABANDONED:
            return
        if status in FAILURES:
            self._open()
        else:
            log.info("circuit of %s closed: the probe succeeded (status %d)", self.name, status)
            self.state = CLOSED
            self._reset(int(self.clock() * self.per_slice))

    def _open(self) -> None:
        self.state = OPEN
        self.opened += 1
        self.open_until = self.clock() + self.open_for
        if self.on_open is not None:
            self.on_open()

    def _advance(self, index: int) -> None:
        """Zero the slices between the last one counted and ``index`` (all of them after a long quiet)."""
        size = len(self.successes)
        if index - self.current >= size:
            self._reset(index)
            return
        for step in range(self.current + 1, index + 1):
            self.successes[step % size] = 0
            self.failures[step % size] = 0
        self.current = index

    def _reset(self, index: int) -> None:
        size = len(self.successes)
        self.successes = [0] * size
        self.failures = [0] * size
        self.current = index
