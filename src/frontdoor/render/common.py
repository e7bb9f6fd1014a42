"""Small translations several targets share: rate-limit units, TLS secrets, hosts, cert-manager."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from frontdoor.contract.models import RateLimit, Tls
from frontdoor.plan import PlannedEntrypoint, PlannedRoute
from frontdoor.render.context import RenderError, Site
from frontdoor.render.labels import labels, obj

#: the annotations that name a cert-manager issuer; copied from the Edge to what carries its TLS
CERT_MANAGER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")

_UNITS = (("Second", 1), ("Minute", 60), ("Hour", 3600), ("Day", 86400))


def matched_methods(route: PlannedRoute, entrypoints: Iterable[PlannedEntrypoint]) -> list[str] | None:
    """The methods a rendered rule matches, sorted; None for a route without ``methods`` (every one).

    A route listing GET answers HEAD too, unless a route of the same path lists HEAD itself: serve
    prefers that one, and two rules of one path matching HEAD would leave the choice to the platform's
    tie-break (Gateway API: the older HTTPRoute)."""
    if route.methods is None:
        return None
    methods = set(route.methods)
    if "GET" in methods and not any(
        other.path == route.path and other.methods is not None and "HEAD" in other.methods
        for entrypoint in entrypoints
        for other in entrypoint.routes
    ):
        methods.add("HEAD")
    return sorted(methods)


def rate_per_unit(limit: RateLimit) -> tuple[int, str]:
    """``requests`` per ``per`` as (requests, unit) in whole units, exactly; refuse what would round."""
    for unit, seconds in _UNITS:
        if seconds < limit.per:
            continue
        scaled = limit.requests * seconds / limit.per
        if scaled == int(scaled):
            return int(scaled), unit
    raise RenderError(
        f"a rate of {limit.requests} per {limit.per:g}s is not a whole number of requests per second, "
        "minute, hour or day; choose a period that divides one of them"
    )


def tls_secret_name(tls: Tls) -> str:
    """The Kubernetes TLS Secret (type kubernetes.io/tls, holding certificate and key) is named after the
    certificate's secret reference: ``cert: secret:shop-tls`` reads the Secret ``shop-tls``."""
    if tls.cert.scheme != "secret":
        raise RenderError(
            f"TLS certificate {tls.cert}: on Kubernetes the edge reads certificates from Secrets; "
            "reference it as secret:NAME (the name of a kubernetes.io/tls Secret)"
        )
    return tls.cert.target


def cert_manager_annotations(annotations: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if k in CERT_MANAGER_ANNOTATIONS}


def host_label(host: str) -> str:
    """A host as a name part: ``*`` is ``any``, ``*.example.com`` is ``wildcard-example-com``."""
    if host == "*":
        return "any"
    return host.replace("*", "wildcard")


def certificate(site: Site, entrypoint: PlannedEntrypoint) -> list[dict[str, Any]]:
    """A cert-manager Certificate for an entrypoint's TLS Secret, when the Edge names an issuer and the
    controller's objects are not ones cert-manager watches (Traefik's IngressRoute)."""
    annotations = site.plan.edge.metadata.annotations
    hosts = [h for h in entrypoint.hosts if h != "*"]
    if entrypoint.tls is None or not hosts:
        return []
    for key, kind in (
        ("cert-manager.io/cluster-issuer", "ClusterIssuer"),
        ("cert-manager.io/issuer", "Issuer"),
    ):
        if key in annotations:
            secret = tls_secret_name(entrypoint.tls)
            return [
                obj(
                    "cert-manager.io/v1",
                    "Certificate",
                    site.names.name("Certificate", secret),
                    labels(site.environment, site.platform_team),
                    {
                        "secretName": secret,
                        "dnsNames": hosts,
                        "issuerRef": {"group": "cert-manager.io", "kind": kind, "name": annotations[key]},
                    },
                )
            ]
    return []
