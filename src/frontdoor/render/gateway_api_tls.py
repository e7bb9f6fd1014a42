"""Gateway API's TLS pieces as Envoy Gateway runs them: a listener per per-host certificate, https
upstreams verified by a BackendTLSPolicy (by the name serve checks, sent as SNI), and the one client
certificate a Gateway's Envoy proves itself with to its upstreams (an EnvoyProxy ``backendTLS``).
What the Secrets are named and hold is render/k8s_tls.py's, shared with the ingress targets."""

from __future__ import annotations

from typing import Any

from frontdoor.plan import PlannedEntrypoint
from frontdoor.render import k8s_tls
from frontdoor.render.backends import Backend
from frontdoor.render.context import RenderError, Site
from frontdoor.render.labels import labels, obj

GW = "gateway.networking.k8s.io"
EG_GROUP = "gateway.envoyproxy.io"
EG = f"{EG_GROUP}/v1alpha1"


def listener_hosts(entrypoint: PlannedEntrypoint) -> list[str]:
    """The entrypoint's hosts, then the per-host certificates' names they cover but do not list."""
    extra = [c.host for c in k8s_tls.host_certificates(entrypoint) if c.host not in entrypoint.hosts]
    return list(entrypoint.hosts) + sorted(set(extra))


def asks_client_certificates(site: Site) -> bool:
    return any(e.tls is not None and e.tls.client_auth is not None for e in site.plan.entrypoints)


def backend_tls(site: Site, service: str, backend: Backend) -> dict[str, Any]:
    """A BackendTLSPolicy: Envoy verifies the https backend against the upstream's CA (or the
    system's store), by the name serve checks, and sends it as SNI."""
    upstream = backend.upstreams[0]
    ca = k8s_tls.upstream_ca_secret(upstream.tls, upstream, service)
    validation: dict[str, Any] = {"hostname": k8s_tls.verified_name(upstream, service, "gateway-api")}
    if ca is None:
        validation["wellKnownCACertificates"] = "System"
    else:
        validation["caCertificateRefs"] = [{"group": "", "kind": "Secret", "name": ca}]
    group = "" if backend.kind == "Service" else EG_GROUP
    return obj(
        f"{GW}/v1",
        "BackendTLSPolicy",
        site.names.name("BackendTLSPolicy", backend.name),
        labels(site.environment, site.plan.service_owners[service], service),
        {
            "targetRefs": [{"group": group, "kind": backend.kind, "name": backend.name}],
            "validation": validation,
        },
    )


def upstream_client_certificate(site: Site, entrypoint: PlannedEntrypoint) -> str | None:
    """The one client certificate (a Secret) the Gateway's Envoy proves itself with to its https
    upstreams. Envoy Gateway sets it per proxy (EnvoyProxy ``backendTLS``), not per backend: the
    upstreams behind one entrypoint that ask for a certificate must share one."""
    found: dict[str, str] = {}
    for service in entrypoint.services:
        for upstream in site.upstreams(service):
            secret = k8s_tls.upstream_client_secret(upstream.tls, upstream, service)
            if secret is not None and upstream.url.scheme == "https":
                found.setdefault(secret, f"{upstream.url} of {service}")
    if len(found) > 1:
        raise RenderError(
            f"entrypoint {entrypoint.name}: Envoy Gateway proves itself to upstreams with one client "
            f"certificate per Gateway, and its upstreams name {len(found)} ("
            + "; ".join(f"{secret} for {where}" for secret, where in sorted(found.items()))
            + "): give them one, or use the traefik or nginx target"
        )
    return next(iter(found), None)


def envoy_proxy(site: Site, name: str, secret: str) -> dict[str, Any]:
    # Envoy Gateway reads the Secret only from the EnvoyProxy's own namespace, named explicitly
    ref = {"kind": "Secret", "name": secret, "namespace": site.options.namespace}
    return obj(
        EG,
        "EnvoyProxy",
        name,
        labels(site.environment, site.platform_team),
        {"backendTLS": {"clientCertificateRef": ref}},
    )
