"""Contract fields a Kubernetes target does not render yet: each is refused with a RenderError naming the
field and where it is, never dropped silently (a dropped client_auth would let every client in).

The ``nginx`` target renders all of them; the Kubernetes targets would need their controllers' own
objects for each (ingress-nginx's auth-tls annotations, Traefik's TLSOption clientAuth, Envoy Gateway's
ClientTrafficPolicy and BackendTLSPolicy), which is work still to do.
"""

from __future__ import annotations

from collections.abc import Iterator

from frontdoor.render.context import RenderError, Site


def _unexpressed(site: Site) -> Iterator[str]:
    for entrypoint in site.plan.entrypoints:
        tls = entrypoint.tls
        if tls is not None and tls.client_auth is not None:
            yield f"entrypoint {entrypoint.name} tls.client_auth (client certificates)"
        if tls is not None and tls.certificates:
            yield f"entrypoint {entrypoint.name} tls.certificates (a certificate per host)"


def refuse_unexpressed(site: Site, target: str) -> None:
    found = list(_unexpressed(site))
    if found:
        raise RenderError(
            f"target {target} cannot express {'; '.join(found)} yet: render --target nginx, "
            "or serve the entrypoint with frontdoor serve"
        )
