"""Choosing an upstream endpoint: smooth weighted round-robin over the endpoints that are up.

An endpoint is down when active health checks say so, or for a while after connect failures
(passive ejection, backing off exponentially). When every endpoint is down the balancer still picks
one (a "panic" choice, as Envoy does): failing every request for sure is worse than trying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EJECT_BASE_S = 2.0
EJECT_MAX_S = 60.0
EJECT_DOUBLINGS_MAX = 5  # 2 s * 2**5 is past EJECT_MAX_S already


@dataclass(slots=True, eq=False)
class Endpoint:
    host: str
    port: int
    weight: int
    scheme: str = "http"
    healthy: bool = True  # set by active health checks
    ejected_until: float = 0.0  # set by passive ejection
    consecutive_failures: int = 0
    current: int = 0  # smooth weighted round-robin state

    @property
    def label(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def available(self, now: float) -> bool:
        return self.healthy and self.weight > 0 and now >= self.ejected_until


class Balancer:
    """The endpoints of one service in one environment."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints = list(endpoints)

    def pick(self, now: float, exclude: Sequence[Endpoint] = ()) -> Endpoint | None:
        if len(self.endpoints) == 1:
            # the common case, without the candidate lists: the one endpoint, if up (or in panic) and
            # not tried yet; no round-robin state to move
            only = self.endpoints[0]
            if only.weight > 0 and only not in exclude:
                return only
            return None
        candidates = [e for e in self.endpoints if e.available(now) and e not in exclude]
        if not candidates:
            candidates = [e for e in self.endpoints if e.weight > 0 and e not in exclude]  # panic
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        # nginx's smooth weighted round-robin: spreads a 90/10 split as 9 then 1, not in bursts.
        total = 0
        best = candidates[0]
        for endpoint in candidates:
            endpoint.current += endpoint.weight
            total += endpoint.weight
            if endpoint.current > best.current:
                best = endpoint
        best.current -= total
        return best

    @staticmethod
    def failed(endpoint: Endpoint, now: float) -> None:
        endpoint.consecutive_failures += 1
        # the exponent capped: a dead endpoint tried in panic mode fails thousands of times in a row, and
        # 2.0 * 2**1024 overflows a float (found by make soak: every such failure then raised)
        doublings = min(endpoint.consecutive_failures - 1, EJECT_DOUBLINGS_MAX)
        backoff = min(EJECT_MAX_S, EJECT_BASE_S * 2**doublings)
        endpoint.ejected_until = now + backoff

    @staticmethod
    def succeeded(endpoint: Endpoint) -> None:
        if endpoint.consecutive_failures:
            endpoint.consecutive_failures = 0
            endpoint.ejected_until = 0.0
