"""Contract fields a target does not render yet: each is refused with a RenderError naming the field and
where it is, never dropped silently (a dropped upstream CA would verify the upstream against the wrong
authorities).

An upstream's ``tls`` (its CA, server name and client certificate) is not rendered by the ``nginx``
target yet; the Kubernetes targets render it (render/k8s_tls.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from frontdoor.render.context import RenderError, Site


def _unexpressed(site: Site, target: str) -> Iterator[str]:
    for service in site.exposed_services():
        for upstream in site.upstreams(service):
            if upstream.tls is not None:
                yield f"upstream {upstream.url} of {service} tls (its CA, server name or client certificate)"


def refuse_unexpressed(site: Site, target: str) -> None:
    found = list(_unexpressed(site, target))
    if found:
        raise RenderError(
            f"target {target} cannot express {'; '.join(found)} yet: serve it with frontdoor serve"
            + ", or render it for gateway-api, ingress-nginx or traefik"
        )
