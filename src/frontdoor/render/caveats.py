"""What a rendered target will do differently from ``serve`` for this contract, said when it is
rendered: the platform's limits that docs/render.md ("Where a target cannot say the same") and the
conformance matrix's exceptions describe, narrowed to the contract at hand, so an operator reads them
before the first incident rather than after it."""

from __future__ import annotations

from frontdoor.plan import Plan


def caveats(plan: Plan, target: str) -> list[str]:
    """One line per difference this contract meets on ``target`` (none for most)."""
    if target != "traefik":
        return []
    notes = []
    for entrypoint in plan.entrypoints:
        if not entrypoint.trusted_proxies:
            continue
        by_client = sorted(
            service
            for service in entrypoint.services
            if (limit := plan.rate_limit_for(service)) is not None and limit.key == "client"
        )
        if by_client:
            notes.append(
                f"traefik: entrypoint {entrypoint.name} trusts proxies, but Traefik's ForwardAuth tells the "
                f"authz only its own peer: the clients behind a trusted proxy share one bucket of the "
                f"per-client rate limit of {', '.join(by_client)} (limits keyed by subject or api_client "
                "are unaffected; docs/render.md, 'Client addresses behind a trusted proxy on traefik')"
            )
    return notes
