"""Per-route traffic counts: what one route saw over a span of time, and sliding windows of them.

Pure data, no I/O: the recorder (metrics.py) fills a ``Stat`` per route per second, folds it into the
process totals, and pushes it into the windows the admin API reads (requests/s, error ratio, p50/p99,
top deny reasons over the last 10 s, 1 min, 5 min). A window keeps a running sum, so moving it by a
second costs the routes of the second that enters and of the one that leaves, never a re-summing.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final, TypeVar

K = TypeVar("K")

#: latency histogram bounds in seconds (Prometheus ``le``): fine below 100 ms, where a proxy lives
BUCKETS: Final[tuple[float, ...]] = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
WINDOWS: tuple[int, ...] = (10, 60, 300)

#: a route's labels: (route id, route path, service, owner team); routes come from the contract only
RouteKey = tuple[str, str, str, str]


def bucket(seconds: float) -> int:
    """The histogram slot of a duration: the first bound it does not exceed, or the last (+Inf) slot.
    ``bisect_left(BUCKETS, seconds)`` as a loop: compiled, a few float comparisons (a proxy's durations
    fall in the first slots) cost less than a call into the bisect module (bench/instructions.py)."""
    slot = 0
    for bound in BUCKETS:
        if seconds <= bound:
            return slot
        slot += 1
    return slot


class Stat:
    """Counts of one route: requests by (method, status class, protocol), latency histogram, denies,
    upstream errors."""

    __slots__ = ("codes", "denies", "errors", "hist", "requests", "sum", "upstream")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0  # 5xx answers
        self.sum = 0.0  # seconds
        self.hist = [0] * (len(BUCKETS) + 1)
        #: (method, status // 100, HTTP version: "1.1", "2", "1.0", or "" where it is not known)
        self.codes: dict[tuple[str, int, str], int] = {}
        self.denies: dict[tuple[str, str], int] = {}  # (kind, rule)
        self.upstream: dict[str, int] = {}  # "error" | "timeout" | "unavailable"

    def add(self, other: Stat, sign: int = 1) -> None:
        self.requests += sign * other.requests
        self.errors += sign * other.errors
        self.sum += sign * other.sum
        hist = self.hist
        for index, count in enumerate(other.hist):
            if count:
                hist[index] += sign * count
        _add_counts(self.codes, other.codes, sign)
        _add_counts(self.denies, other.denies, sign)
        _add_counts(self.upstream, other.upstream, sign)

    def to_json(self) -> list[Any]:
        return [
            self.requests,
            self.errors,
            self.sum,
            self.hist,
            [[m, c, v, n] for (m, c, v), n in self.codes.items()],
            [[k, r, n] for (k, r), n in self.denies.items()],
            self.upstream,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> Stat:
        stat = cls()
        stat.requests, stat.errors, stat.sum = int(data[0]), int(data[1]), float(data[2])
        stat.hist = [int(n) for n in data[3]]
        # a row of three is a worker of a version before the protocol was counted (a rolling upgrade)
        stat.codes = {
            (str(row[0]), int(row[1]), str(row[2]) if len(row) == 4 else ""): int(row[-1]) for row in data[4]
        }
        stat.denies = {(str(k), str(r)): int(n) for k, r, n in data[5]}
        stat.upstream = {str(k): int(n) for k, n in data[6].items()}
        return stat


Table = dict[RouteKey, Stat]


def _add_counts(table: dict[K, int], more: dict[K, int], sign: int) -> None:
    for key, count in more.items():
        left = table.get(key, 0) + sign * count
        if left:
            table[key] = left
        else:
            table.pop(key, None)


def merge_into(target: Table, more: Table, sign: int = 1) -> None:
    for key, stat in more.items():
        mine = target.get(key)
        if mine is None:
            mine = target[key] = Stat()
        mine.add(stat, sign)
        if sign < 0 and not mine.requests:
            del target[key]


def table_json(table: Table) -> list[Any]:
    return [[list(key), stat.to_json()] for key, stat in table.items()]


def table_from_json(data: list[Any]) -> Table:
    return {(str(k[0]), str(k[1]), str(k[2]), str(k[3])): Stat.from_json(s) for k, s in data}


class Window:
    """The sum of the last ``seconds`` one-second tables."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.ring: deque[Table] = deque()
        self.sum: Table = {}

    def push(self, second: Table) -> None:
        self.ring.append(second)
        if second:
            merge_into(self.sum, second)
        if len(self.ring) > self.seconds:
            leaving = self.ring.popleft()
            if leaving:
                merge_into(self.sum, leaving, -1)


def quantile(hist: list[int], q: float) -> float | None:
    """The ``q`` quantile of a histogram, interpolated within its bucket as Prometheus'
    histogram_quantile does; None without observations. Above the last bound: the last bound."""
    total = sum(hist)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(hist):
        if count and seen + count >= rank:
            if index >= len(BUCKETS):
                return BUCKETS[-1]
            lower = BUCKETS[index - 1] if index else 0.0
            return lower + (BUCKETS[index] - lower) * (rank - seen) / count
        seen += count
    return BUCKETS[-1]


def summary(key: RouteKey, stat: Stat, seconds: int, top: int = 5) -> dict[str, Any]:
    """One route's traffic over a window, as the admin API shows it."""
    p50 = quantile(stat.hist, 0.5)
    p99 = quantile(stat.hist, 0.99)
    denies = sorted(stat.denies.items(), key=lambda item: -item[1])[:top]
    return {
        "route": key[0],
        "path": key[1],
        "service": key[2],
        "owner": key[3],
        "requests": stat.requests,
        "rps": round(stat.requests / seconds, 3),
        "errors": stat.errors,
        "error_ratio": round(stat.errors / stat.requests, 4) if stat.requests else 0.0,
        "denied": sum(stat.denies.values()),
        "p50_ms": None if p50 is None else round(p50 * 1000, 3),
        "p99_ms": None if p99 is None else round(p99 * 1000, 3),
        "top_denies": [{"kind": k, "rule": r, "count": n} for (k, r), n in denies],
        "upstream_errors": dict(stat.upstream),
    }
