"""How the edge talks to `frontdoor authz`: its port, the path each edge dialect calls, the request
headers it reads and the identity headers it answers with. One place, because every target points at
the same service and the authz side (docs/authz.md) defines this contract.

A 2xx answer admits the request and carries the identity headers below, which the edge copies to the
upstream request; 401 and 403 deny (401 with a WWW-Authenticate challenge the edge passes on).
"""

from __future__ import annotations

NAME = "frontdoor-authz"  # Deployment, Service, ConfigMap, ... of the authz service
PORT = 9191  # the authz listener: decisions, /healthz, /readyz and /metrics
PORT_NAME = "http"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
CONTRACT_MOUNT = "/etc/frontdoor/contract"

#: the path each edge calls; the dialect is told apart by the headers it sends (below)
CHECK_PATH = "/"

#: nginx ``auth_request``: the original request line, set by the rendered nginx.conf
NGINX_REQUEST_HEADERS = {"X-Original-URI": "$request_uri", "X-Original-Method": "$request_method"}

#: what the caller presents: a bearer token, or an API client's key
CREDENTIAL_HEADERS = ("authorization", "x-api-key")

#: identity the authz answers with, for the upstream; the edge must drop any a client sent itself
IDENTITY_HEADERS = (
    "X-Frontdoor-Subject",
    "X-Frontdoor-Scopes",
    "X-Frontdoor-Client",
    "X-Frontdoor-Issuer",
)


def command(environment: str, listen: str) -> list[str]:
    """The container's arguments (the image's entrypoint is ``frontdoor``)."""
    return ["authz", CONTRACT_MOUNT, "--env", environment, "--listen", listen]


def service_url(namespace: str) -> str:
    """The in-cluster URL of the authz Service, fully qualified so any namespace can use it."""
    return f"http://{NAME}.{namespace}.svc.cluster.local:{PORT}{CHECK_PATH}"
