"""Counters of what traffic protection did, per service, for the metrics endpoint to read.

They live for the whole process (a reload keeps them: Prometheus counters only go up) and are touched
only on the rare paths (a denial, a store failure, a refused retry), never on an admitted request.
"""

from __future__ import annotations

from collections import Counter

#: counter names, as ``(name, service)`` keys of COUNTERS
RATE_LIMITED = "rate_limited"  # 429 answered
STORE_FAILED_OPEN = "rate_limit_store_failed_open"  # Redis unreachable, the request passed unlimited
STORE_FAILED_CLOSED = "rate_limit_store_failed_closed"  # Redis unreachable, the request got 503
SHED = "shed"  # 503 because max_inflight_per_service was reached
CIRCUIT_REJECTED = "circuit_rejected"  # 503 because the service's circuit is open
CIRCUIT_OPENED = "circuit_opened"  # times a circuit opened
RETRY_BUDGET_EXHAUSTED = "retry_budget_exhausted"  # retries not made because the budget was spent
CLIENT_STALLED = "client_stalled"  # a client that took none of its response for timeouts.idle: cut off

COUNTERS: Counter[tuple[str, str]] = Counter()


def count(name: str, service: str) -> None:
    COUNTERS[name, service] += 1


def snapshot() -> dict[tuple[str, str], int]:
    """A copy: ``{(counter, service): value}``."""
    return dict(COUNTERS)
