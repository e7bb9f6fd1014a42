"""``frontdoor diff``: how two environments differ in what they expose and how they protect it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontdoor.contract.load import Contract
from frontdoor.contract.values import format_duration
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
    for e in plan.entrypoints:
        tls = f"TLS {e.tls.min_version}+{' HSTS' if e.tls.hsts else ''}" if e.tls else "no TLS"
        facts[("entrypoint", e.name)] = f"{e.listen} hosts {', '.join(e.hosts)}; {tls}"
        for r in e.routes:
            facts[("route", f"{e.name} {r.method_text} {r.path}")] = f"{r.service}: {r.access.describe()}"
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
