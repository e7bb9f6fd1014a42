"""Contract fields a target does not render yet: each is refused with a RenderError naming the field and
where it is, never dropped silently (a dropped client_auth would let every client in; a dropped upstream
CA would verify the upstream against the wrong authorities).

The ``nginx`` target renders client_auth and per-host certificates; the Kubernetes targets would need
their controllers' own objects for them (ingress-nginx's auth-tls annotations, Traefik's TLSOption
clientAuth, Envoy Gateway's ClientTrafficPolicy). An upstream's ``tls`` (its CA, server name and client
certificate) needs per-service settings no target renders yet: nginx reads ``proxy_ssl_trusted_certificate``
once per location, which serves every service here; Envoy Gateway would need a BackendTLSPolicy.
"""

from __future__ import annotations

from collections.abc import Iterator

from frontdoor.render.context import RenderError, Site


def _unexpressed(site: Site, target: str) -> Iterator[str]:
    if target != "nginx":
        for entrypoint in site.plan.entrypoints:
            tls = entrypoint.tls
            if tls is not None and tls.client_auth is not None:
                yield f"entrypoint {entrypoint.name} tls.client_auth (client certificates)"
            if tls is not None and tls.certificates:
                yield f"entrypoint {entrypoint.name} tls.certificates (a certificate per host)"
    for service in site.exposed_services():
        for upstream in site.upstreams(service):
            if upstream.tls is not None:
                yield f"upstream {upstream.url} of {service} tls (its CA, server name or client certificate)"


def refuse_unexpressed(site: Site, target: str) -> None:
    found = list(_unexpressed(site, target))
    if found:
        raise RenderError(
            f"target {target} cannot express {'; '.join(found)} yet: serve it with frontdoor serve"
            + ("" if target == "nginx" else ", or render --target nginx where it can")
        )
