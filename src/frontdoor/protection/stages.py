"""Traffic protection's stages, built once from the Plan: the rate limit, then shedding and the breaker.

A service without a limit, and an Edge without ``max_inflight_per_service`` or ``circuit_breaker``, cost
nothing per request: no stage is added, or the stage's per-service lookup finds nothing.
"""

from __future__ import annotations

from frontdoor.contract.values import format_duration
from frontdoor.plan import Plan
from frontdoor.policy.admission import Stage, StageContext
from frontdoor.protection.ratelimit import LocalRateLimit, ServiceLimit
from frontdoor.protection.shedding import GuardStage, guards_for
from frontdoor.sharedredis import redis_url


def routed_services(plan: Plan) -> list[str]:
    return sorted({route.service for _, route in plan.routes()})


def service_limits(plan: Plan, share: int = 1) -> dict[str, ServiceLimit]:
    """Each routed service's limit; ``share`` > 1 divides it among that many processes."""
    limits = plan.edge.spec.rate_limits
    if limits is None:
        return {}
    found = {}
    for service in routed_services(plan):
        limit = plan.rate_limit_for(service)
        if limit is not None:
            policy = service if service in limits.services else "default"
            found[service] = ServiceLimit.of(service, policy, limit, share)
    return found


def protection_stages(plan: Plan, context: StageContext) -> list[Stage]:
    stages: list[Stage] = []
    limits = plan.edge.spec.rate_limits
    if limits is not None:
        local = limits.store == "local"
        per_service = service_limits(plan, context.workers if local else 1)
        if per_service and local:
            stages.append(LocalRateLimit(per_service))
        elif per_service:
            stages.append(_redis_stage(plan, per_service, limits.on_store_failure))
    protection = plan.edge.spec.protection
    breaker = protection.circuit_breaker
    guards = guards_for(
        routed_services(plan),
        protection.max_inflight_per_service,
        (breaker.failure_ratio, breaker.min_requests, breaker.open_for) if breaker else None,
    )
    if guards:
        stages.append(GuardStage(guards))
    return stages


def _redis_stage(plan: Plan, per_service: dict[str, ServiceLimit], on_failure: str) -> Stage:
    from frontdoor.protection.redisstore import RedisRateLimit, shared_client
    from frontdoor.sharedredis import where

    url = redis_url(plan)
    return RedisRateLimit(
        per_service,
        shared_client(url),
        where(url),
        on_failure,
        rate_limit_prefix(plan.edge.name, plan.environment),
    )


def rate_limit_prefix(edge: str, environment: str) -> str:
    """Where a deployment's buckets live in Redis: two Edges, or two environments, sharing one Redis
    never spend each other's limits (as their stops, policy/stopredis.py)."""
    return f"frontdoor:{edge}:{environment}:rl:"


def local_split_note(plan: Plan, workers: int) -> str | None:
    """The startup log's line when a local limit is divided among ``workers`` processes."""
    limits = plan.edge.spec.rate_limits
    if limits is None or limits.store != "local" or workers <= 1:
        return None
    shown = []
    for service, share in sorted(service_limits(plan, workers).items())[:3]:
        limit = plan.rate_limit_for(service)
        assert limit is not None
        per = format_duration(limit.per)
        shown.append(
            f"{service} {limit.requests}/{per} burst {limit.capacity} -> "
            f"{limit.requests / workers:g}/{per} burst {share.rate.burst}"
        )
    more = ", ..." if len(service_limits(plan)) > 3 else ""
    return (
        f"rate limits use store: local with {workers} workers: each worker enforces 1/{workers} of "
        f"every limit ({', '.join(shown)}{more}), so the total is approximate (a client's connections "
        "may not spread evenly) and each replica enforces the whole limit again; store: redis shares "
        "one limit across workers and replicas (docs/protection.md states its bound)"
    )
