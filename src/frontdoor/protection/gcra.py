"""Rate-limit arithmetic: the Generic Cell Rate Algorithm (GCRA), a token bucket kept as one number.

A limit of ``requests`` per ``per`` seconds with a bucket of ``burst`` admits one request every
``interval = per / requests`` seconds on average, and up to ``burst`` at once after a quiet spell. The
only state per key is its TAT, the "theoretical arrival time": when the bucket would be full again.
A request at ``now`` is admitted when ``max(TAT, now) + interval - now <= burst * interval``; the TAT
then moves on by one interval. A key whose TAT is in the past is exactly a key never seen, so idle keys
can be forgotten without changing any decision: this is what bounds the memory (LocalBuckets).

Times are seconds from any monotonic clock, passed in by the caller (tests pass their own).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable
from dataclasses import dataclass

#: keys kept per limit before idle ones are swept (about 100 bytes each: 50,000 keys are ~5 MiB)
MAX_KEYS = 50_000


@dataclass(frozen=True, slots=True)
class Rate:
    """One limit as GCRA sees it, for one process that holds ``1/share`` of it."""

    interval: float  # seconds between two requests at the sustained rate
    burst: int  # requests admitted at once from a full bucket

    @classmethod
    def of(cls, requests: int, per: float, burst: int, share: int = 1) -> Rate:
        """``requests`` per ``per`` seconds, ``burst`` at once; with ``share`` > 1 processes each holding
        an equal part, the rate and the burst are divided (the burst rounded down, at least 1) so that
        together they never admit more than the whole limit."""
        return cls(per * share / requests, max(1, burst // share))

    @property
    def window(self) -> float:
        """Seconds from an empty bucket to a full one."""
        return self.interval * self.burst

    def remaining(self, debt: float) -> int:
        """Requests still admitted at once, when the bucket is ``debt`` seconds from full."""
        # the tolerance absorbs the rounding of adding ``interval`` many times
        return max(0, int((self.window - debt) / self.interval + 1e-6))


def ceil_seconds(seconds: float) -> int:
    """Whole seconds, rounded up: what Retry-After and RateLimit's ``t`` carry (a nanosecond's float
    error never adds a second; never negative)."""
    return max(0, math.ceil(seconds - 1e-9))


class LocalBuckets:
    """GCRA state for one limit in this process: a dict from key to TAT, with bounded memory.

    ``take(key, now)`` returns the debt after admitting (>= 0: admitted, the bucket is that many seconds
    from full) or, when the request is refused, minus the seconds to wait until one would be admitted.
    The common case is a dict lookup, a few float operations and a dict store.

    When a new key would exceed ``max_keys``, keys whose TAT has passed are dropped (no decision
    changes); if more than half the room is still taken, as when an attacker sprays fresh keys faster
    than they go idle, the keys closest to a full bucket are dropped too, keeping the half with the most
    debt. Those few clients then start again from a full bucket: the limit is approximate for them,
    memory is bounded, and the sweep costs O(n log n) once per ``max_keys / 2`` new keys.
    """

    __slots__ = ("ceiling", "dropped", "interval", "max_keys", "rate", "tats")

    def __init__(self, rate: Rate, max_keys: int = MAX_KEYS) -> None:
        self.rate = rate
        self.interval = rate.interval
        # the largest admissible debt, with room for the rounding of repeated additions
        self.ceiling = rate.window + rate.interval * 1e-6
        self.max_keys = max(2, max_keys)
        self.tats: dict[Hashable, float] = {}
        self.dropped = 0  # keys forgotten while they still had debt (approximate decisions)

    def take(self, key: Hashable, now: float) -> float:
        tats = self.tats
        tat = tats.get(key)
        if tat is None:
            if len(tats) >= self.max_keys:
                self.sweep(now)
            tat = now
        elif tat < now:
            tat = now
        debt = tat + self.interval - now
        if debt > self.ceiling:
            return self.ceiling - debt  # refused: nothing is recorded
        tats[key] = tat + self.interval
        return debt

    def sweep(self, now: float) -> None:
        tats = self.tats
        live = [(tat, key) for key, tat in tats.items() if tat > now]
        keep = self.max_keys // 2
        if len(live) > keep:
            self.dropped += len(live) - keep
            live = heapq.nlargest(keep, live, key=lambda item: item[0])
        tats.clear()
        tats.update((key, tat) for tat, key in live)
