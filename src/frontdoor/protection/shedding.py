"""The last stage: whether the service can take one more request (load shedding, circuit breaker).

Per service, from the Edge's ``protection``: at most ``max_inflight_per_service`` requests in flight
(counted from admission to the end of the response, by ``Admission.on_finish``), beyond which the answer
is 503 at once, with no queue; and the service's CircuitBreaker, whose open circuit answers 503 without
touching the upstream. Both are per process: with ``--workers N`` each worker sheds on its own count.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from frontdoor.policy.admission import Admission, Denial, Verdict
from frontdoor.policy.denykind import DenyKind
from frontdoor.protection.breaker import PROBE, REFUSE, CircuitBreaker
from frontdoor.protection.counters import CIRCUIT_OPENED, CIRCUIT_REJECTED, SHED, count
from frontdoor.protection.gcra import ceil_seconds
from frontdoor.protection.headers import RETRY_AFTER

UNLIMITED = sys.maxsize


class ServiceGuard:
    """In-flight count and circuit breaker of one service."""

    __slots__ = ("breaker", "finished", "inflight", "max_inflight", "probe_finished", "service", "shed")

    def __init__(self, service: str, max_inflight: int | None, breaker: CircuitBreaker | None) -> None:
        self.service = service
        self.max_inflight = max_inflight or UNLIMITED
        self.inflight = 0
        self.breaker = breaker
        # bound once: registering the finisher allocates nothing per request
        self.finished: Callable[[int], None] = self._finished
        self.probe_finished: Callable[[int], None] = self._probe_finished
        self.shed = Denial(
            503,
            f"{service} has {max_inflight} requests in flight, its limit: shedding load, retry shortly",
            f"shedding: max_inflight_per_service {max_inflight}",
            ((RETRY_AFTER, b"1"),),
            DenyKind.SHED,
        )

    def admit(self, admission: Admission) -> Denial | None:
        if self.inflight >= self.max_inflight:
            count(SHED, self.service)
            return self.shed
        breaker = self.breaker
        finisher = self.finished
        if breaker is not None:
            answer = breaker.allow(admission.now)
            if answer == REFUSE:
                return self._circuit_open(breaker, admission.now)
            if answer == PROBE:
                finisher = self.probe_finished
        self.inflight += 1
        admission.on_finish(finisher)
        return None

    def _finished(self, status: int) -> None:
        self.inflight -= 1
        if self.breaker is not None:
            self.breaker.record(status)

    def _probe_finished(self, status: int) -> None:
        self.inflight -= 1
        if self.breaker is not None:
            self.breaker.probed(status)

    def _circuit_open(self, breaker: CircuitBreaker, now: float) -> Denial:
        count(CIRCUIT_REJECTED, self.service)
        retry = max(1, ceil_seconds(breaker.retry_after(now)))
        return Denial(
            503,
            f"{self.service} is failing and its circuit is open: the edge is not sending it requests",
            f"circuit-breaker: open for {breaker.open_for:g}s",
            ((RETRY_AFTER, b"%d" % retry),),
            DenyKind.CIRCUIT_OPEN,
        )


class GuardStage:
    """The ``protection`` stage: one ServiceGuard per service that has either protection."""

    name = "protection"

    def __init__(self, guards: dict[str, ServiceGuard]) -> None:
        self.guards = guards

    def check(self, admission: Admission) -> Verdict:
        guard = self.guards.get(admission.route.service)
        if guard is None:
            return None
        return guard.admit(admission)

    def state(self) -> dict[str, dict[str, object]]:
        """Per service: requests in flight and the circuit's state, for the admin view and metrics."""
        return {
            name: {
                "inflight": guard.inflight,
                "max_inflight": None if guard.max_inflight == UNLIMITED else guard.max_inflight,
                "circuit": guard.breaker.state if guard.breaker else None,
            }
            for name, guard in self.guards.items()
        }


def guards_for(
    services: list[str],
    max_inflight: int | None,
    breaker: tuple[float, int, float] | None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, ServiceGuard]:
    """A guard per service when the Edge sets either protection; ``breaker`` is (ratio, min, open_for)."""
    if max_inflight is None and breaker is None:
        return {}
    guards = {}
    for service in services:
        circuit = None
        if breaker is not None:
            ratio, minimum, open_for = breaker
            circuit = CircuitBreaker(
                ratio,
                minimum,
                open_for,
                clock,
                name=service,
                on_open=lambda service=service: count(CIRCUIT_OPENED, service),  # type: ignore[misc]
            )
        guards[service] = ServiceGuard(service, max_inflight, circuit)
    return guards
