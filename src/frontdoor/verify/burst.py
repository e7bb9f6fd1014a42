"""``--burst``: reach a rate limit on purpose, and see the edge answer 429 with Retry-After.

Never by default: it sends as fast as it can, beyond ``--rate``, until the limit answers (within the
budget). Only a public GET route of a service whose limit is keyed by ``client`` or ``route`` is used,
so that the requests verify sends are the ones counted. Whether the limit should have answered is the
GCRA's arithmetic (protection/gcra.py): ``capacity + requests * seconds / per`` requests pass in
``seconds``; a run that sent no faster than the limit refills proves nothing and is skipped, never
passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from frontdoor.contract.models import RateLimit
from frontdoor.errors import Finding
from frontdoor.plan import Plan, PlannedEntrypoint, PlannedRoute
from frontdoor.policy.routing import Router
from frontdoor.verify.client import ProbeClient
from frontdoor.verify.judge import Clauses


@dataclass(frozen=True)
class BurstTarget:
    service: str
    path: str
    route: PlannedRoute
    limit: RateLimit

    @property
    def cap(self) -> int:
        """How many requests at most: enough to pass the bucket twice over at a modest speed."""
        return 2 * self.limit.capacity + self.limit.requests + 10


def burst_targets(
    plan: Plan, entrypoint: PlannedEntrypoint, host: str
) -> tuple[list[BurstTarget], list[str]]:
    """A target per rate-limited service, and why the others have none."""
    router = Router([entrypoint])
    targets: list[BurstTarget] = []
    skipped: list[str] = []
    for service in entrypoint.services:
        limit = plan.rate_limit_for(service)
        if limit is None:
            continue
        if limit.key not in ("client", "route"):
            skipped.append(
                f"--burst: {service}'s limit is keyed by {limit.key}, which verify cannot be alone in"
            )
            continue
        for route in entrypoint.routes:
            if route.service != service or not route.access.is_public:
                continue
            matched = router.match(host, route.path.path, "GET").route
            if matched is route:
                targets.append(BurstTarget(service, route.path.path, route, limit))
                break
        else:
            skipped.append(f"--burst: {service} has no public GET route to reach its limit through")
    return targets, skipped


def should_have_answered(limit: RateLimit, sent: int, seconds: float) -> bool:
    """Did ``sent`` requests in ``seconds`` exceed what the limit lets through (one of slack)?"""
    return sent > limit.capacity + limit.requests * seconds / limit.per + 1


@dataclass(frozen=True)
class BurstResult:
    finding: Finding | None = None
    skipped: str | None = None


def run_burst(client: ProbeClient, target: BurstTarget, clauses: Clauses) -> BurstResult:
    """GETs as fast as the client goes, until a 429 or the target's cap."""
    started = time.monotonic()
    sent = 0
    answer = None
    while sent < target.cap:
        try:
            answer = client.send("GET", target.path, {}, paced=False)
        except httpx.TransportError as exc:
            return BurstResult(skipped=f"--burst on {target.path}: no answer after {sent} request(s) ({exc})")
        sent += 1
        if answer.status == 429:
            break
    seconds = time.monotonic() - started
    limit = target.limit
    where = clauses.of_rate_limit(target.service)
    if answer is not None and answer.status == 429:
        if "retry-after" in answer.headers:
            return BurstResult()
        message = (
            f"service {target.service}'s limit answered 429 without Retry-After (GET {target.path}, "
            f"request id {answer.request_id})"
        )
        return BurstResult(clauses.finding("verify-rate-limit", message, where, target.service))
    if should_have_answered(limit, sent, seconds):
        message = (
            f"service {target.service} has a limit of {limit.requests} per {limit.per:g}s (burst "
            f"{limit.capacity}) but {sent} GET {target.path} in {seconds:.2f}s were all admitted"
        )
        return BurstResult(clauses.finding("verify-rate-limit", message, where, target.service))
    return BurstResult(
        skipped=f"--burst on {target.path}: {sent} request(s) in {seconds:.2f}s are within the limit; "
        "verify could not send faster than it refills"
    )
