"""``frontdoor diff``: how two environments differ in what they expose and how they protect it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontdoor.contract.loaded import Contract
from frontdoor.contract.values import format_duration, format_size
from frontdoor.plan import Plan, compile_plan


@dataclass(frozen=True)
class Change:
    area: str  # route | entrypoint | identity | rate-limit | upstreams | environment
    subject: str
    before: str | None  # None: only in the second environment
    after: str | None  # None: only in the first environment

    def json(self) -> dict[str, Any]:
        return {"area": self.area, "subject": self.subject, "before": self.before, "after": self.after}


def _facts(plan: Plan) -> dict[tuple[str, str], str]:
    facts: dict[tuple[str, str], str] = {("environment", "production"): str(plan.production).lower()}
    routes: dict[str, list[str]] = {}
    for e in plan.entrypoints:
        tls = f"TLS {e.tls.min_version}+{' HSTS' if e.tls.hsts else ''}" if e.tls else "no TLS"
        facts[("entrypoint", e.name)] = f"{e.listen} hosts {', '.join(e.hosts)}; {tls}"
        for r in e.routes:
            # keyed by what a client asks for, not by entrypoint name, which differs between edges
            where = f"{', '.join(e.hosts)} ({tls})"
            routes.setdefault(f"{r.method_text} {r.path}", []).append(
                f"{r.service}: {r.access.describe()} on {where}"
            )
    for route, exposures in routes.items():
        facts[("route", route)] = "; ".join(sorted(exposures))
    spec = plan.edge.spec
    protection = spec.protection
    facts[("protection", "max_request_body")] = format_size(protection.max_request_body)
    facts[("protection", "max_header_bytes")] = format_size(protection.max_header_bytes)
    facts[("protection", "timeouts")] = ", ".join(
        f"{name} {format_duration(getattr(protection.timeouts, name))}"
        for name in ("connect", "header", "upstream", "idle")
    )
    facts[("protection", "max_inflight_per_service")] = str(
        protection.max_inflight_per_service or "unlimited"
    )
    facts[("protection", "retries")] = f"{protection.retries.attempts} attempt(s)"
    breaker = protection.circuit_breaker
    facts[("protection", "circuit_breaker")] = (
        f"open at {breaker.failure_ratio:.0%} of {breaker.min_requests} "
        f"for {format_duration(breaker.open_for)}"
        if breaker
        else "none"
    )
    observability = spec.observability
    facts[("observability", "access_log")] = (
        observability.access_log.format if observability and observability.access_log else "off"
    )
    facts[("observability", "metrics")] = (
        observability.metrics.path if observability and observability.metrics else "off"
    )
    facts[("observability", "tracing")] = (
        observability.tracing.propagate if observability and observability.tracing else "off"
    )
    admin = spec.admin
    facts[("admin", "operators")] = ", ".join(admin.operators) if admin else "no admin API"
    for p in plan.edge.spec.identity.providers:
        facts[("identity", p.name)] = (
            f"{p.issuer} audiences {', '.join(p.audiences)}; {', '.join(p.algorithms)}"
        )
    for c in plan.edge.spec.identity.api_clients:
        facts[("identity", f"api client {c.name}")] = "declared"
    services = sorted({r.service for _, r in plan.routes()})
    for service in services:
        limit = plan.rate_limit_for(service)
        facts[("rate-limit", service)] = (
            f"{limit.requests}/{format_duration(limit.per)} burst {limit.capacity} by {limit.key}"
            if limit
            else "none"
        )
    for service, pool in plan.upstreams.items():
        facts[("upstreams", service)] = ", ".join(f"{u.url} weight {u.weight}" for u in pool)
    return facts


def diff_environments(contract: Contract, first: str, second: str) -> list[Change]:
    a, b = _facts(compile_plan(contract, first)), _facts(compile_plan(contract, second))
    changes = []
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            changes.append(Change(key[0], key[1], a.get(key), b.get(key)))
    return changes
