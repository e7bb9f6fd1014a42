"""How the edge talks to `frontdoor authz` (docs/authz.md): its port, the check path, the headers each
edge dialect sends and the identity headers it answers with. One place, because every target points
at the same service.

A 200 admits the request and carries the four identity headers (always, empty when they do not apply),
which the edge copies onto the upstream request, replacing whatever a client sent under those names.
401 and 403 deny; for the nginx dialect every other denial is a 403 naming its kind in
``X-Frontdoor-Deny`` (nginx's auth_request accepts nothing else), Traefik and Envoy get the real status.
"""

from __future__ import annotations

from frontdoor.access.cookies import MAX_CHUNKS

NAME = "frontdoor-authz"  # Deployment, Service, ConfigMap, ... of the authz service
PORT = 9191  # the authz listener: checks, /healthz, /readyz
PORT_NAME = "http"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
CONTRACT_MOUNT = "/etc/frontdoor/contract"

#: the check URL's path for nginx, ingress-nginx and Traefik; Envoy's path_prefix, removed by the authz
CHECK_PATH = "/auth"

#: the private address ranges: who may ask, by default, in a cluster (a NetworkPolicy admits only the
#: edge's proxies, so only they can be the peer)
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8")

#: nginx ``auth_request``: the original request line (the Host is set too: routes are chosen by it)
NGINX_REQUEST_HEADERS = {"X-Original-URI": "$request_uri", "X-Original-Method": "$request_method"}
#: nginx: the client certificate nginx verified ($ssl_client_escaped_cert), for certificate API clients
NGINX_CERTIFICATE_HEADER = "Ssl-Client-Cert"

#: Envoy: the client certificate Envoy verified (x-forwarded-client-cert, its ``Cert`` field)
ENVOY_CERTIFICATE_HEADER = "x-forwarded-client-cert"
#: Traefik: the certificate its passTLSClientCert middleware sets (a client's own is removed first)
TRAEFIK_CERTIFICATE_HEADER = "X-Forwarded-Tls-Client-Cert"

#: what Envoy must pass on to the check besides Authorization, which it always sends
ENVOY_REQUEST_HEADERS = ("authorization", "x-api-key", "x-forwarded-for", "x-request-id")

#: browser sign-in (docs/access.md): the paths the authz answers itself, which every target routes to it
SIGN_IN_PATHS = ("/_frontdoor/start", "/_frontdoor/callback", "/_frontdoor/logout")


#: browser sign-in, on an allow: the request's Cookie without the gateway's own cookies, absent when none
#: are left (for Envoy the answer then names it in x-envoy-auth-headers-to-remove); the ingress sets it on
#: the upstream request in place of the browser's, so the sealed session never reaches the upstream
UPSTREAM_COOKIE_HEADER = "Cookie"
#: nginx dialect, on an allow: each Set-Cookie also as X-Frontdoor-Set-Cookie-1 .. -N (nginx reads only
#: the first Set-Cookie of the authz's answer), as many as a session's cookies
SET_COOKIE_HEADERS = tuple(f"X-Frontdoor-Set-Cookie-{n}" for n in range(1, MAX_CHUNKS + 1))


def session_cookie(provider: str) -> str:
    """The session cookie of ``provider`` (access/signin.py's name for it), for targets that must name
    the cookies an allow may refresh."""
    return f"frontdoor-session-{provider}"


def session_cookies(provider: str) -> list[str]:
    """The session cookie of ``provider`` and the numbered cookies a long session is split into."""
    first = session_cookie(provider)
    return [first] + [f"{first}.{n}" for n in range(1, MAX_CHUNKS)]


#: identity the authz answers with, for the upstream
IDENTITY_HEADERS = (
    "X-Frontdoor-Subject",
    "X-Frontdoor-Scopes",
    "X-Frontdoor-Client",
    "X-Frontdoor-Issuer",
)
DENY_HEADER = "X-Frontdoor-Deny"

#: nginx dialect, on an allow: the service whose route the authz chose (serve's router, method fallback
#: included) and the path serve would send upstream (normalized, the prefix stripped where the route
#: asks), without the query. The rendered nginx.conf proxies where these say.
SERVICE_HEADER = "X-Frontdoor-Service"
PATH_HEADER = "X-Frontdoor-Path"
#: nginx dialect, on a denial: serve's JSON error body for it, which auth_request cannot pass on itself
BODY_HEADER = "X-Frontdoor-Body"

#: nginx dialect: the kind of a 403 -> the status `serve` answers for it (anything else stays 403);
#: a stopped service or route (the kill switch), shed load and an open circuit are serve's 503
NGINX_DENY_STATUS = {
    "no-route": 404,
    "method-not-allowed": 405,
    "bad-request": 400,
    "rate-limit": 429,
    "kill-switch": 503,
    "shed": 503,
    "circuit-open": 503,
}


def command(environment: str, listen: str, dialect: str, trusted: tuple[str, ...]) -> list[str]:
    """``frontdoor authz`` arguments (the image's entrypoint is ``frontdoor``), with the dialect pinned
    as the authz documentation asks for production."""
    args = ["authz", CONTRACT_MOUNT, "--env", environment, "--listen", listen, "--dialect", dialect]
    if dialect == "envoy":
        args += ["--path-prefix", CHECK_PATH]
    for network in trusted:
        args += ["--trusted", network]
    return args


def service_url(namespace: str) -> str:
    """The in-cluster check URL of the authz Service, fully qualified so any namespace can use it."""
    return f"http://{NAME}.{namespace}.svc.cluster.local:{PORT}{CHECK_PATH}"
