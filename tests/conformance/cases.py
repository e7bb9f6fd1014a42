"""The conformance matrix's table: every request every mode is asked, with the decision the contract
requires. It extends the parity table (tests/parity_cases.py, run unchanged on the same services) with
method fallback, exact and prefix paths, hosts and wildcards, normalization and encodings, every kind of
access, identity headers, rate limits, stops, and body and header limits.

``expected`` is the status the issue requires (Gateway API routing, NUL refused everywhere, ...); None
leaves the decision to serve, and every other mode must then agree with serve. ``upstream`` is the
target the upstream must receive on a 200 (normalized, prefix stripped), ``backend`` the service whose
upstream answers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..authz_support import BATCH_KEY
from ..parity_cases import ALL_CASES, Case, Headers, Minter, bearer, fixed
from .contract import MAX_BODY, MAX_HEADER_BYTES, PARTNER_KEY


@dataclass
class Row(Case):
    upstream: str | None = None  # the target the upstream receives on a 200
    backend: str | None = None  # the service that answers a 200
    body: bytes | None = None
    group: str = "parity"  # the table's section, for the printed matrix
    entrypoint: str = "local"  # "partner": sent to the second entrypoint where it has its own listener


def _from_parity(case: Case) -> Row:
    return Row(**{f.name: getattr(case, f.name) for f in fields(Case)})


def rows(group: str, *items: Row) -> list[Row]:
    for item in items:
        item.group = group
    return list(items)


READ = bearer(subject="alice", scopes=["orders:read"])
WRITE = bearer(subject="alice", scopes=["orders:write"])
REPORTS = bearer(subject="rita", scopes=["reports:read"])
KEY = fixed(X_Api_Key=BATCH_KEY)


def both(*makers: Headers) -> Headers:
    """The headers of several makers merged (an API key and a token at once)."""

    def make(setup: Minter) -> dict[str, str]:
        merged: dict[str, str] = {}
        for maker in makers:
            merged |= maker(setup)
        return merged

    return make


def lowercase_scheme(maker: Headers) -> Headers:
    """The scheme is case-insensitive (RFC 6750 2.1, RFC 9110 11.1): ``bearer TOKEN``."""
    return lambda setup: {"Authorization": "bearer " + maker(setup)["Authorization"].partition(" ")[2]}


ROUTING = rows(
    "routing",
    Row("prefix root", "GET", "/shop", expected=200, upstream="/shop", backend="shop"),
    Row(
        "prefix subpath keeps its query",
        "GET",
        "/shop/a/b?x=1&y=2",
        expected=200,
        upstream="/shop/a/b?x=1&y=2",
    ),
    Row("prefix with trailing slash", "GET", "/shop/", expected=200, upstream="/shop/"),
    Row("prefix stops at a segment", "GET", "/shopping", expected=404),
    Row("path is case-sensitive", "GET", "/SHOP", expected=404),
    Row("root path", "GET", "/", expected=404),
    Row("HEAD on an any-method route", "HEAD", "/shop", expected=200),
    Row("OPTIONS on an any-method route", "OPTIONS", "/shop", expected=200, upstream="/shop"),
    Row("exact route", "GET", "/exact", expected=200, upstream="/exact"),
    Row("exact route, HEAD allowed with GET", "HEAD", "/exact", expected=200),
    Row("exact route, longer path", "GET", "/exact/more", expected=404),
    Row("exact route, trailing slash", "GET", "/exact/", expected=404),
    Row("exact route, method not allowed", "POST", "/exact", expected=405),
    Row("method of neither route", "PUT", "/orders/7", expected=405),
    Row("PATCH where no route allows it", "PATCH", "/orders", expected=405),
    Row("any-method prefix", "DELETE", "/cards/9", expected=200, upstream="/cards/9", backend="cards"),
    Row("longer prefix, its method", "POST", "/cards/settlement", expected=200, upstream="/cards/settlement"),
    # the case: GET does not match the POST-only route, so /cards (any method) serves it
    Row("method falls back to a shorter prefix", "GET", "/cards/settlement", expected=200, backend="cards"),
    Row("method falls back below the longer prefix", "PUT", "/cards/settlement/3", expected=200),
    Row("stripped prefix", "GET", "/strip/a/b", expected=200, upstream="/a/b", backend="extra"),
    Row("stripped prefix alone", "GET", "/strip", expected=200, upstream="/"),
    Row("stripped prefix keeps the query", "GET", "/strip?q=1", expected=200, upstream="/?q=1"),
    Row("stripped prefix with a slash", "GET", "/strip/", expected=200, upstream="/"),
    Row("internal service is not exposed", "GET", "/ledger", expected=404),
)

HOSTS = rows(
    "hosts",
    Row("wildcard host", "GET", "/shop", host="eu.shop.test", expected=200, backend="shop"),
    Row("wildcard host, two labels", "GET", "/shop", host="a.eu.shop.test"),
    Row("host in upper case", "GET", "/shop", host="SHOP.TEST", expected=200),
    Row("host with a port", "GET", "/shop", host="shop.test:8080", expected=200),
    Row(
        "wildcard does not match the bare domain's suffix", "GET", "/shop", host="evilshop.test", expected=404
    ),
    Row("host with a suffix", "GET", "/shop", host="shop.test.evil", expected=404),
    Row("other host", "GET", "/shop", host="other.test", expected=404),
    # the second entrypoint exposes cards only, on its own host (and, in serve, its own listener)
    Row(
        "second entrypoint",
        "GET",
        "/cards/1",
        host="api.partner.test",
        expected=200,
        backend="cards",
        entrypoint="partner",
    ),
    Row(
        "second entrypoint, a service it does not expose",
        "GET",
        "/shop",
        host="api.partner.test",
        expected=404,
        entrypoint="partner",
    ),
    Row(
        "second entrypoint, no wildcard",
        "GET",
        "/cards",
        host="x.api.partner.test",
        expected=404,
        entrypoint="partner",
    ),
)

NORMALIZATION = rows(
    "normalization",
    Row("dot segment", "GET", "/shop/./items", expected=200, upstream="/shop/items"),
    Row("dot-dot segment", "GET", "/shop/a/../b", expected=200, upstream="/shop/b"),
    Row("encoded letter", "GET", "/%73hop/x", expected=200, upstream="/shop/x"),
    Row("encoded letter into a protected route", "GET", "/%6Frders/7", expected=401),
    Row("dot-dot into a protected route", "GET", "/shop/../orders/7", expected=401),
    Row("dot-dot out of a protected route", "GET", "/orders/../shop/x", expected=200, upstream="/shop/x"),
    Row("encoded dot-dot", "GET", "/shop/%2e%2e/orders/7"),
    Row("encoded slash", "GET", "/shop/a%2Fb"),
    Row("double slash", "GET", "/shop//x"),
    Row("double slash before the prefix", "GET", "//shop/x"),
    Row("dot-dot at the end", "GET", "/shop/x/.."),
    Row("above the root, encoded", "GET", "/%2e%2e/%2e%2e/etc/passwd", expected=400),
    Row("NUL byte", "GET", "/shop/x%00", expected=400),
    Row("encoded UTF-8", "GET", "/shop/caf%C3%A9", expected=200, upstream="/shop/caf%C3%A9"),
    Row("stripped prefix, normalized first", "GET", "/strip/./a/../b", expected=200, upstream="/b"),
)

ACCESS = rows(
    "access",
    Row("scope, prefix itself", "GET", "/orders", READ, 200, subject="alice", upstream="/orders"),
    Row("scope of POST", "POST", "/orders", WRITE, 200, subject="alice"),
    Row("scope, lowercase scheme", "GET", "/orders/1", lowercase_scheme(READ), 200, subject="alice"),
    Row(
        "scope, another issuer's audience", "GET", "/orders/1", bearer(subject="x", audiences=["other"]), 401
    ),
    Row("not a bearer scheme", "GET", "/me", fixed(Authorization="Basic YWxpY2U6cHc="), expected=401),
    Row(
        "claim, list contains it",
        "GET",
        "/teams",
        bearer(subject="oli", claims={"groups": ["dev", "ops"]}),
        200,
    ),
    Row("claim, list lacks it", "GET", "/teams", bearer(subject="oli", claims={"groups": ["dev"]}), 403),
    Row("claim, missing", "GET", "/teams", bearer(subject="oli"), 403),
    Row("claim route without a token", "GET", "/admin", expected=401),
    Row("API client not listed", "GET", "/batch/run", fixed(X_Api_Key=PARTNER_KEY), 403),
    Row(
        "API client and scope",
        "GET",
        "/reports/q1",
        both(KEY, REPORTS),
        200,
        subject="rita",
        backend="extra",
    ),
    Row("API client without the token", "GET", "/reports/q1", KEY, 401),
    Row("token without the API client", "GET", "/reports/q1", REPORTS, 401),
    Row(
        "API client, token without the scope",
        "GET",
        "/reports/q1",
        both(KEY, bearer(subject="rita")),
        403,
    ),
    Row(
        "forged identity with an API key",
        "GET",
        "/batch/run",
        both(KEY, fixed(X_Frontdoor_Client="partner", X_Frontdoor_Subject="root")),
        200,
    ),
)

LIMITS = rows(
    "limits",
    # a client behind the trusted proxy (127.0.0.1) is the address it forwards: its own bucket
    Row(
        "per-client limit, used up",
        "GET",
        "/perclient",
        fixed(X_Forwarded_For="203.0.113.7"),
        429,
        prime=True,
    ),
    Row("per-client limit, another client", "GET", "/perclient", fixed(X_Forwarded_For="203.0.113.8"), 200),
    Row("stopped service", "GET", "/paused", expected=503),
    Row("stopped service, subpath", "POST", "/paused/x", expected=503),
    Row("stopped route", "GET", "/halted", expected=503),
    Row("service of a stopped route, other route", "GET", "/strip/ok", expected=200, upstream="/ok"),
    Row("body within the limit", "POST", "/shop", body=b"x" * (MAX_BODY // 2), expected=200),
    Row("body over the limit", "POST", "/shop", body=b"x" * (MAX_BODY * 4), expected=413),
    Row("header within the limit", "GET", "/shop", fixed(X_Note="n" * (MAX_HEADER_BYTES // 4)), expected=200),
    Row("header over the limit", "GET", "/shop", fixed(X_Note="n" * (MAX_HEADER_BYTES * 2)), expected=431),
)

#: the whole table, in its printed order
TABLE: list[Row] = [
    *(_from_parity(case) for case in ALL_CASES),
    *ROUTING,
    *HOSTS,
    *NORMALIZATION,
    *ACCESS,
    *LIMITS,
]
