"""The Environment's upstreams as Kubernetes backends the edge controller can route to.

Each upstream endpoint becomes its own Service, so a controller that splits traffic by weight between
backends (Gateway API, Traefik) keeps the Environment's weights. An IP endpoint is a Service without a
selector plus an EndpointSlice naming that address; a DNS endpoint is an ExternalName Service (Gateway
API: an Envoy Gateway Backend, since Envoy Gateway does not follow ExternalName Services).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from frontdoor.contract.models import Upstream
from frontdoor.render.context import RenderError, Site
from frontdoor.render.labels import labels, obj

PORT_NAME = "http"


@dataclass(frozen=True)
class Backend:
    name: str  # the Service (or Backend) name
    kind: str  # "Service" or "Backend"
    port: int
    weight: int
    scheme: str  # http or https: what the edge speaks to it
    upstreams: tuple[Upstream, ...] = ()  # the Environment's upstreams behind it (their tls)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host.lower() == "localhost":
            address = ipaddress.ip_address("127.0.0.1")
        else:
            return None
    if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast:
        # the API server refuses such an endpoint, and no pod could reach the machine's own loopback
        raise RenderError(
            f"upstream address {host} is not reachable from a cluster (loopback, link-local or "
            "unspecified); give this environment's upstreams addresses the cluster can reach"
        )
    return address


def backends(site: Site, service: str, *, fqdn_as_backend: bool = False) -> tuple[list[Backend], list[Any]]:
    """The backends of ``service`` in pool order, and the objects that define them."""
    out: list[Backend] = []
    objects: list[dict[str, Any]] = []
    owner = site.plan.service_owners[service]
    pool = site.upstreams(service)
    if len({u.url.scheme for u in pool}) > 1:
        raise RenderError(f"service {service} mixes http and https upstreams; use one scheme per service")
    for index, upstream in enumerate(pool):
        url = upstream.url
        name = site.names.name("Service", service, "upstream", str(index))
        object_labels = labels(site.environment, owner, service)
        address = _ip(url.host)
        port: dict[str, Any] = {
            "name": PORT_NAME,
            "port": url.port,
            "targetPort": url.port,
            "protocol": "TCP",
            "appProtocol": url.scheme,
        }
        if address is not None:
            objects.append(obj("v1", "Service", name, object_labels, {"type": "ClusterIP", "ports": [port]}))
            objects.append(
                obj(
                    "discovery.k8s.io/v1",
                    "EndpointSlice",
                    name,
                    object_labels
                    | {
                        "kubernetes.io/service-name": name,
                        # not the endpoint-slice controller's: it must leave this slice alone
                        "endpointslice.kubernetes.io/managed-by": "frontdoor.dev",
                    },
                    addressType="IPv4" if address.version == 4 else "IPv6",
                    endpoints=[{"addresses": [str(address)], "conditions": {"ready": True}}],
                    ports=[
                        {"name": PORT_NAME, "port": url.port, "protocol": "TCP", "appProtocol": url.scheme}
                    ],
                )
            )
            out.append(Backend(name, "Service", url.port, upstream.weight, url.scheme, (upstream,)))
        elif fqdn_as_backend:
            objects.append(
                obj(
                    "gateway.envoyproxy.io/v1alpha1",
                    "Backend",
                    name,
                    object_labels,
                    {"endpoints": [{"fqdn": {"hostname": url.host, "port": url.port}}]},
                )
            )
            out.append(Backend(name, "Backend", url.port, upstream.weight, url.scheme, (upstream,)))
        else:
            del port["targetPort"]
            objects.append(
                obj(
                    "v1",
                    "Service",
                    name,
                    object_labels,
                    {"type": "ExternalName", "externalName": url.host, "ports": [port]},
                )
            )
            out.append(Backend(name, "Service", url.port, upstream.weight, url.scheme, (upstream,)))
    return out, objects


def pooled_backend(site: Site, service: str) -> tuple[Backend, list[Any]] | None:
    """One Service for the whole pool, when the edge balances it evenly anyway: every weight equal and
    every endpoint an IP on the same port (one EndpointSlice lists them all), or a single endpoint."""
    pool = site.upstreams(service)
    if len(pool) == 1:
        found, objects = backends(site, service)
        return found[0], objects
    addresses = [_ip(u.url.host) for u in pool]
    if len({u.weight for u in pool}) > 1 or len({u.url.port for u in pool}) > 1 or None in addresses:
        return None
    if len({u.url.scheme for u in pool}) > 1 or len({a.version for a in addresses if a}) > 1:
        return None
    url = pool[0].url
    name = site.names.name("Service", service, "upstream")
    object_labels = labels(site.environment, site.plan.service_owners[service], service)
    port = {
        "name": PORT_NAME,
        "port": url.port,
        "targetPort": url.port,
        "protocol": "TCP",
        "appProtocol": url.scheme,
    }
    first = addresses[0]
    assert first is not None
    objects = [
        obj("v1", "Service", name, object_labels, {"type": "ClusterIP", "ports": [port]}),
        obj(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            name,
            object_labels
            | {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "frontdoor.dev"},
            addressType="IPv4" if first.version == 4 else "IPv6",
            endpoints=[{"addresses": [str(a)], "conditions": {"ready": True}} for a in addresses],
            ports=[{"name": PORT_NAME, "port": url.port, "protocol": "TCP", "appProtocol": url.scheme}],
        ),
    ]
    return Backend(name, "Service", url.port, pool[0].weight, url.scheme, tuple(pool)), objects
