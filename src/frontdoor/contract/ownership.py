"""Which kind of document, and so which team role, owns each field (rule 2 and rule 4)."""

from __future__ import annotations

import difflib

from frontdoor.contract.models import OWNER_ROLE

# A field name that belongs to exactly one kind. Names shared by several kinds (name, path, services,
# url, key) are left out: for them the plain "unknown field" message is the honest one.
_HOME: dict[str, str] = {}
for _kind, _fields in {
    "Team": "role oncall contact runbooks escalation",
    "Service": "routes access health api events load slo exposure methods strip_prefix readiness liveness "
    "openapi produces consumes",
    "Edge": "entrypoints listen hosts host tls trusted_proxies identity providers api_clients issuer "
    "audiences "
    "algorithms jwks_uri scopes_claim clock_skew_s rate_limits rate_limit ratelimit protection timeouts "
    "timeout retries circuit_breaker max_request_body max_header_bytes max_inflight_per_service "
    "max_concurrent_streams "
    "observability access_log metrics tracing admin operators cert hsts min_version auth authentication "
    "jwt oidc",
    "Environment": "upstreams upstream secrets production promotes_from weight",
}.items():
    for _field in _fields.split():
        _HOME[_field] = _kind

_ARTICLE = {"Team": "a", "Service": "a", "Edge": "an", "Environment": "an"}
_WHY = {
    "Team": "who the team is and how to reach its on-call",
    "Service": "the app team's intent",
    "Edge": "the platform team's front door",
    "Environment": "the delivery team's wiring",
}


def home_of(field: str) -> str | None:
    return _HOME.get(field.lower())


def misplaced_field(kind: str, field: str) -> tuple[str, str]:
    """(rule, message) for ``field`` refused in a document of ``kind``."""
    if field == "access" and kind in ("Edge", "Environment"):
        return (
            "access-override",
            f"access is the app team's: only the Service that owns a route sets its access; "
            f"{_ARTICLE[kind]} {kind} cannot change it",
        )
    home = home_of(field)
    if home and home != kind:
        role = OWNER_ROLE[home] or "each"
        owner = f"the {role} team's" if home != "Team" else "a Team's own"
        return (
            "field-owner",
            f"{field} is {owner}: declare it in {_ARTICLE[home]} {home} "
            f"({_ARTICLE[kind]} {kind} holds {_WHY[kind]})",
        )
    known = [f for f, k in _HOME.items() if k == kind]
    close = difflib.get_close_matches(field, known, n=1)
    hint = f": did you mean {close[0]}?" if close else ""
    return "unknown-field", f"{field} is not a field here{hint}"
