"""What ``check`` says about rate limits beyond their presence: whether they fit the load the app teams
declared, and how exact they are.

- ``rate-limit-below-peak`` (gap in production, warning elsewhere): a service's ``load.peak_rps`` is more
  than its limit can ever admit, so at peak the edge would refuse real traffic. Only a limit keyed by
  ``route`` has a ceiling for the whole service (the limit times its routes); a limit per client,
  subject or API client admits more the more callers there are.
- ``rate-limit-loose`` (warning): a single bucket (one caller, or one route) may send more than
  LOOSE_FACTOR times the whole service's declared peak: protection that protects nothing.
- ``rate-limit-local`` (note): with ``store: local`` the limit is per gateway process: ``serve
  --workers N`` gives each worker 1/N of it and every replica enforces it again, so the total is
  approximate. ``store: redis`` shares one limit (exact below a burst of 32, within a stated bound
  above: docs/protection.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from frontdoor.contract.loaded import Contract
from frontdoor.contract.models import RateLimit
from frontdoor.contract.values import format_duration
from frontdoor.errors import Finding
from frontdoor.plan import Plan

LOOSE_FACTOR = 10


def _text(limit: RateLimit) -> str:
    return f"{limit.requests}/{format_duration(limit.per)} by {limit.key}"


def _rps(value: float) -> str:
    return f"{value:,.4g}" if value < 1000 else f"{value:,.0f}"


def rate_limit_checks(contract: Contract, plan: Plan, exposed: Iterable[str]) -> Iterator[Finding]:
    limits = plan.edge.spec.rate_limits
    if limits is None:
        return
    edge = plan.edge
    env = plan.environment
    routes: dict[str, set[int]] = {}
    for _, route in plan.routes():
        routes.setdefault(route.service, set()).add(route.index)
    any_limit = False
    for name in exposed:
        limit = plan.rate_limit_for(name)
        service = contract.services.get(name)
        if limit is None or service is None:
            continue
        any_limit = True
        load = service.spec.load
        peak = load.peak_rps if load is not None else None
        if not peak:
            continue
        where = contract.locate(
            "Edge",
            edge.name,
            "spec",
            "rate_limits",
            *(("services", name) if name in limits.services else ("default",)),
        )
        rate = limit.requests / limit.per  # sustained requests per second of one bucket
        if limit.key == "route":
            count = max(1, len(routes.get(name, ())))
            ceiling = rate * count
            if peak > ceiling:
                declared = contract.locate("Service", name, "spec", "load", "peak_rps")
                yield Finding(
                    "rate-limit-below-peak",
                    f"{name} declares peak_rps {_rps(peak)} but its rate limit ({_text(limit)}, "
                    f"{count} route(s)) admits at most {_rps(ceiling)} requests/s: at peak the edge "
                    "would refuse real traffic with 429",
                    where,
                    f"{edge.owner}, {service.owner}",
                    "gap",
                    env,
                    (declared,) if declared else (),
                    target=name,
                )
        if rate > LOOSE_FACTOR * peak:
            bucket = "one route" if limit.key == "route" else f"one {limit.key.replace('_', ' ')}"
            yield Finding(
                "rate-limit-loose",
                f"the rate limit of {name} ({_text(limit)}) lets {bucket} alone send {_rps(rate)} "
                f"requests/s, more than {LOOSE_FACTOR}x the whole service's declared peak_rps of "
                f"{_rps(peak)}: it protects nothing",
                where,
                edge.owner,
                "warning",
                env,
                target=name,
            )
    if any_limit and limits.store == "local":
        default = limits.default
        example = f" (such as {_text(default)})" if default is not None else ""
        yield Finding(
            "rate-limit-local",
            "rate limits use store: local, kept per gateway process: the per-replica limit"
            f"{example} across N workers is approximate: with serve --workers N each worker enforces "
            "1/N of it, a client's connections may not spread evenly, and every replica enforces the "
            "whole limit again; store: redis shares one limit across workers and replicas",
            contract.locate("Edge", edge.name, "spec", "rate_limits", "store"),
            edge.owner,
            "note",
            env,
            target=edge.name,
        )
