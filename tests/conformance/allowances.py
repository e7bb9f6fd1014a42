"""What may excuse a cell that differs from the required decision:

- EXCEPTIONS: what a target cannot express, each with its reason and a precise test of the
  difference it excuses (nothing else passes under its name);
- PENDING_ON_OTHER_BRANCHES: cells that fail on this branch only because the work that makes them
  pass is on another branch; the lead empties it after merging (a pending cell that passes fails the
  run, so that the entry is removed);
- OPEN_DIFFERENCES: differences the matrix found that no branch works on yet, each with what would
  fix it; they need an owner (a cell that passes fails the run, so that the entry is removed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .cases import Row
from .k8s_model import decode, normalize, sanitize
from .outcome import Outcome
from .reference import Reference


def _cleaned(target: str) -> str:
    """A target as Traefik sends it: unreserved characters decoded, the path cleaned as Go does
    (k8s_model.sanitize), the query unchanged."""
    path, query = decode(target)
    return sanitize(path) + query


def _normalized(target: str) -> str:
    """A target normalized as RFC 3986 says (and serve does): dot segments removed, slashes kept."""
    path, query = normalize(target)
    return path + query


def _cleaned_upstream(row: Row, ref: Reference, got: Outcome) -> bool:
    """``got`` is the target serve sends, cleaned as Traefik cleans it: serve's own upstream cleaned,
    or (no prefix stripped) the client's target cleaned where serve only normalizes it."""
    if ref.upstream is None or got.upstream is None:
        return False
    if got.upstream == _cleaned(ref.upstream):
        return True
    return ref.upstream == _normalized(row.path) and got.upstream == _cleaned(row.path)


@dataclass(frozen=True)
class Exception_:
    name: str
    modes: tuple[str, ...]
    aspect: str
    reason: str
    excuses: Callable[[Row, Reference, Outcome], bool]


EXCEPTIONS = (
    Exception_(
        "auth_request takes 200, 401, 403",
        ("nginx-authz",),
        "status",
        "nginx's auth_request (and so docs/authz.md's configuration) takes only 2xx, 401 and 403 from the "
        "auth service: authz answers every other denial as a 403 naming its kind in X-Frontdoor-Deny, "
        "which the configuration passes to the client (the rendered nginx.conf maps kinds back)",
        lambda _row, ref, got: (
            ref.status not in (200, 401, 403) and got.status == 403 and got.kind == ref.kind
        ),
    ),
    Exception_(
        "auth-url takes 200, 401, 403",
        ("ingress-nginx",),
        "status",
        "ingress-nginx's auth-url takes only 2xx, 401 and 403 from the auth service and answers with its own "
        "page: a denial authz names otherwise reaches the client as a 403 without the kind",
        lambda _row, ref, got: ref.status not in (200, 401, 403) and got.status == 403 and got.kind is None,
    ),
    Exception_(
        "auth_request passes one challenge",
        ("nginx-authz", "nginx-rendered", "ingress-nginx"),
        "challenge",
        "nginx's auth_request (1.22, Debian bookworm's) passes on one WWW-Authenticate of the auth service's 401: "
        "where serve offers two challenges (a token and an API key), the client gets the first",
        lambda _row, ref, got: (
            got.status == 401
            and ref.challenge is not None
            and got.challenge is not None
            and got.challenge.get("www-authenticate", "\0") in ref.challenge.get("www-authenticate", "")
            and {k: v for k, v in got.challenge.items() if k != "www-authenticate"}
            == {k: v for k, v in ref.challenge.items() if k != "www-authenticate"}
        ),
    ),
    Exception_(
        "auth-url's 403 is ingress-nginx's own",
        ("ingress-nginx",),
        "challenge",
        "ingress-nginx answers the auth service's 403 with its own page: no annotation passes the authz's "
        "headers (WWW-Authenticate with insufficient_scope) to the client on a denial",
        lambda _row, _ref, got: got.status == 403 and got.challenge == {},
    ),
    Exception_(
        "the ingress forwards the path",
        ("nginx-authz", "caddy-authz"),
        "upstream",
        "behind an ingress, authz only decides: the ingress's own configuration forwards the path (here the "
        "client's, unchanged: no prefix stripped, no normalization)",
        lambda row, _ref, got: got.upstream == row.path,
    ),
    Exception_(
        "the ingress chooses the backend",
        ("nginx-authz", "caddy-authz"),
        "backend",
        "behind an ingress, authz only decides: the ingress's own configuration chooses the upstream (here one "
        "upstream for every path)",
        lambda _row, _ref, got: got.backend == "shop",
    ),
    Exception_(
        "ingress-nginx proxies the client's URI",
        ("ingress-nginx",),
        "upstream",
        "ingress-nginx proxies without a URI (proxy_pass http://upstream_balancer), so nginx sends the upstream "
        "the request target as the client wrote it (/shop/./a, /%73hop); it routes, and the authz decides, on "
        "the normalized path. Only rewrite-target sends a normalized one, and it makes every path of the host a "
        "case-insensitive regular expression (use-regex is per host), which the contract's paths are not",
        lambda row, _ref, got: got.upstream == row.path,
    ),
    Exception_(
        "a wildcard is one label",
        ("ingress-nginx",),
        "status",
        "an Ingress host wildcard matches exactly one DNS label (Kubernetes Ingress spec): *.shop.test does not "
        "serve a.eu.shop.test, which the contract's wildcard does",
        lambda row, _ref, got: got.status == 404 and row.host.count(".") > 2,
    ),
    Exception_(
        "dot-dot above the root is the root",
        ("gateway-api", "gateway-api-external", "traefik", "traefik-live"),
        "status",
        "Envoy's normalize_path and Traefik's path sanitizing resolve a .. above the root to the root (RFC 3986 "
        "5.2.4) instead of refusing the request, and neither can be told to refuse it: the path then matches "
        "no route (404); it never reaches a route it could not name",
        lambda _row, ref, got: ref.status == 400 and got.status == 404,
    ),
    Exception_(
        "Traefik cleans the path as Go does",
        ("traefik", "traefik-live"),
        "upstream",
        "Traefik's path sanitizing (sanitizePath, on by default, an entry point's static option that no "
        "IngressRoute or Middleware sets) is Go's path.Clean: it also merges duplicate slashes, and a trailing "
        "dot segment leaves no trailing slash (/shop//x reaches the upstream as /shop/x). Turning it off would "
        "leave the dot segments unresolved for matching and for the upstream; the request still reaches the "
        "route serve chooses, only the spelling the upstream sees differs",
        _cleaned_upstream,
    ),
    Exception_(
        "Traefik matches the cleaned path",
        ("traefik", "traefik-live"),
        "status",
        "Traefik cleans the path (the same sanitizePath) before it matches: //shop/x is /shop/x there, which "
        "a route serves, where serve matches the path as the client wrote it after RFC 3986 normalization and "
        "finds none (404). The authz is asked about the cleaned path as well, so the request gets the decision "
        "of the route serve gives the cleaned path, never another",
        lambda row, ref, got: (
            ref.status == 404
            and got.status == 200
            and got.upstream == _cleaned(row.path) != _normalized(row.path)
        ),
    ),
    Exception_(
        "header limits are the controller's",
        ("ingress-nginx",),
        "status",
        "request header limits are the ingress-nginx controller's (ConfigMap large-client-header-buffers, "
        "answered with nginx's 400), not something an Ingress can set",
        lambda _row, ref, got: ref.status == 431 and got.status == 400,
    ),
    Exception_(
        "Envoy Gateway cannot set the header limit",
        ("gateway-api", "gateway-api-external"),
        "status",
        "no Envoy Gateway policy up to v1.9 sets Envoy's request header limit (max_request_headers_kb: 60 KiB, "
        "answered 431), and ext_authz passes the authz only the headers the policy lists, so it cannot measure "
        "them: a head between max_header_bytes and 60 KiB is forwarded (ClientTrafficPolicy "
        "headers.maxRequestHeaderLimit, after v1.9, will express it)",
        lambda _row, ref, got: ref.status == 431 and got.status == 200,
    ),
    Exception_(
        "Caddy 2.6 proxies a body over max_size as 502",
        ("caddy-authz",),
        "status",
        "Debian's Caddy 2.6 enforces request_body max_size while reverse_proxy reads the body, and the read "
        "error becomes a 502; the body never reaches the upstream",
        lambda _row, ref, got: ref.status == 413 and got.status == 502,
    ),
    Exception_(
        "no 405 in rule matching",
        ("gateway-api", "gateway-api-external", "traefik", "traefik-live"),
        "status",
        "the method is part of an HTTPRoute match / Traefik rule: a method no rule allows matches no rule, "
        "which the platform answers 404 (neither can answer 405)",
        lambda _row, ref, got: ref.status == 405 and got.status == 404,
    ),
    Exception_(
        "ForwardAuth sees the trusted proxy, not its client",
        ("traefik", "traefik-live"),
        "status",
        "Traefik's ForwardAuth passes the authz the client address only as its own peer unless "
        "trustForwardHeader is on, and that also passes the request's own X-Forwarded-Method, -Uri and -Host "
        "as the request to decide (seen on Traefik 3.7: X-Forwarded-Uri /evil reached the authz for a request "
        "routed to /real), which would let a client behind a trusted proxy choose what is judged; so it stays "
        "off, and clients behind an entrypoint's trusted_proxies share the proxy's bucket of a per-client "
        "limit (per-subject and per-API-client limits are unaffected; docs/render.md)",
        lambda row, ref, got: (
            row.name == "per-client limit, another client"
            and ref.status == 200
            and got.status == 429
            and got.kind == "rate-limit"
        ),
    ),
)


@dataclass(frozen=True)
class Pending:
    reason: str
    rows: tuple[str, ...]
    modes: tuple[str, ...]


#: work on other branches that this matrix waits for: none since killswitch, routing, check-gate and
#: the render fixes were merged (an entry here must name the branch that makes its cells pass)
PENDING: tuple[Pending, ...] = ()

#: differences the matrix found that no branch works on yet: they do not fail the build, so that a
#: branch can merge, but each needs an owner (the lead's list; docs/conformance.md shows them)
UNASSIGNED: tuple[Pending, ...] = ()

#: (row name, mode) -> why it fails on this branch, and which branch makes it pass
PENDING_ON_OTHER_BRANCHES: dict[tuple[str, str], str] = {
    (row, mode): entry.reason for entry in PENDING for row in entry.rows for mode in entry.modes
}
#: (row name, mode) -> a difference found that has no owner yet
OPEN_DIFFERENCES: dict[tuple[str, str], str] = {
    (row, mode): entry.reason for entry in UNASSIGNED for row in entry.rows for mode in entry.modes
}
