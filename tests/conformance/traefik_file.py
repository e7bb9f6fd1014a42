"""The rendered Traefik objects (``frontdoor render --target traefik``) as the configuration of Traefik's
file provider, so that a real Traefik runs them: each IngressRoute route a router (its ``match`` as the
rule, its ``priority``, its Middlewares in order, its entry points), each Middleware and
ServersTransport the same fields under ``http.middlewares`` / ``http.serversTransports``, the
Kubernetes Services a route names load balancers on the addresses the test gives for their cluster
names, and the ForwardAuth address the real ``frontdoor authz`` of the test.

Field by field: a kind, a Middleware type or a field not listed here raises :class:`Untranslatable`,
so that a new render feature cannot be silently left out of the live column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .k8s_model import Object, name

#: kinds that configure something other than Traefik's routing (the authz Deployment and its
#: companions, network policies, dashboards, the kustomization): nothing to translate
NOT_ROUTING = frozenset(
    {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Kustomization",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PrometheusRule",
        "ServiceMonitor",
    }
)

#: Middleware type -> the fields the file provider takes as they are (the CRD's spec is the same
#: structure as the dynamic configuration for these)
MIDDLEWARE_FIELDS: dict[str, frozenset[str]] = {
    "headers": frozenset({"customRequestHeaders", "stsSeconds"}),
    "forwardAuth": frozenset(
        {"address", "authResponseHeaders", "trustForwardHeader", "addAuthCookiesToResponse"}
    ),
    "buffering": frozenset({"maxRequestBodyBytes"}),
    "stripPrefix": frozenset({"prefixes"}),
    "retry": frozenset({"attempts"}),
}
TRANSPORT_FIELDS = frozenset({"forwardingTimeouts"})
TIMEOUT_FIELDS = frozenset({"dialTimeout", "responseHeaderTimeout", "idleConnTimeout"})
ROUTE_FIELDS = frozenset({"kind", "match", "priority", "middlewares", "services"})
ROUTE_SERVICE_FIELDS = frozenset({"name", "port", "weight", "serversTransport", "scheme"})
SERVICE_PORT_FIELDS = frozenset({"name", "port", "protocol", "appProtocol", "targetPort"})


class Untranslatable(Exception):
    """A kind or field of the render this translator does not know."""


def _only(where: str, given: dict[str, Any], known: frozenset[str]) -> None:
    unknown = set(given) - known
    if unknown:
        raise Untranslatable(f"{where}: no translation for {sorted(unknown)}")


@dataclass
class Addresses:
    """Where the cluster's names are on this machine: ``hosts`` maps an ExternalName (or a Service's
    cluster name) to a loopback host, the upstream keeping its port; ``authz`` is the URL of the real
    ``frontdoor authz`` the ForwardAuth Middleware asks instead of the in-cluster one."""

    hosts: dict[str, str]
    authz: str
    authz_service: str = "frontdoor-authz"  # the authz's own Service (the sign-in routes' backend)


def _middleware(obj: Object, addresses: Addresses) -> dict[str, Any]:
    spec = obj["spec"]
    if len(spec) != 1:
        raise Untranslatable(f"Middleware {name(obj)}: one type per Middleware, not {sorted(spec)}")
    ((kind, fields),) = spec.items()
    if kind not in MIDDLEWARE_FIELDS:
        raise Untranslatable(f"Middleware {name(obj)}: no translation for type {kind}")
    _only(f"Middleware {name(obj)} {kind}", fields, MIDDLEWARE_FIELDS[kind])
    fields = dict(fields)
    if kind == "forwardAuth":
        path = urlsplit(fields["address"]).path
        fields["address"] = addresses.authz.rstrip("/") + path
    return {kind: fields}


def _transport(obj: Object) -> dict[str, Any]:
    spec = obj["spec"]
    _only(f"ServersTransport {name(obj)}", spec, TRANSPORT_FIELDS)
    _only(f"ServersTransport {name(obj)} forwardingTimeouts", spec["forwardingTimeouts"], TIMEOUT_FIELDS)
    return {"forwardingTimeouts": dict(spec["forwardingTimeouts"])}


def _check_service(service: Object) -> None:
    spec = service["spec"]
    _only(f"Service {name(service)}", spec, frozenset({"type", "externalName", "ports", "selector"}))
    for port in spec.get("ports", []):
        _only(f"Service {name(service)} port", port, SERVICE_PORT_FIELDS)


def _host(service: Object, addresses: Addresses) -> str:
    """The address of a Kubernetes Service on this machine (an ExternalName, or the authz's)."""
    spec = service["spec"]
    if spec.get("type") == "ExternalName":
        external = spec["externalName"]
        if external not in addresses.hosts:
            raise Untranslatable(f"Service {name(service)}: no address for {external}")
        return addresses.hosts[external]
    if name(service) == addresses.authz_service:
        return urlsplit(addresses.authz).hostname or "127.0.0.1"
    raise Untranslatable(f"Service {name(service)}: only ExternalName Services and the authz's")


def _server(service: Object, reference: dict[str, Any], addresses: Addresses) -> str:
    scheme = reference.get("scheme", "http")
    if name(service) == addresses.authz_service and service["spec"].get("type") != "ExternalName":
        return addresses.authz.rstrip("/")
    if reference["port"] not in [p["port"] for p in service["spec"].get("ports", [])]:
        raise Untranslatable(f"route names port {reference['port']} Service {name(service)} has not")
    return f"{scheme}://{_host(service, addresses)}:{reference['port']}"


def translate(found: list[Object], addresses: Addresses) -> tuple[dict[str, Any], set[str]]:
    """The file provider's dynamic configuration of a render's objects, and the entry points its
    routers use."""
    services = {name(o): o for o in found if o.get("kind") == "Service"}
    for service in services.values():
        _check_service(service)
    http: dict[str, dict[str, Any]] = {
        "routers": {},
        "services": {},
        "middlewares": {},
        "serversTransports": {},
    }
    entry_points: set[str] = set()
    for obj in found:
        kind = obj.get("kind")
        if kind in NOT_ROUTING or kind == "Service":
            continue
        if kind == "Middleware":
            http["middlewares"][name(obj)] = _middleware(obj, addresses)
        elif kind == "ServersTransport":
            http["serversTransports"][name(obj)] = _transport(obj)
        elif kind == "IngressRoute":
            entry_points |= _routers(obj, services, addresses, http)
        else:
            raise Untranslatable(f"no translation for kind {kind} ({name(obj)})")
    return {"http": http}, entry_points


def _routers(
    route: Object, services: dict[str, Object], addresses: Addresses, http: dict[str, dict[str, Any]]
) -> set[str]:
    spec = route["spec"]
    _only(f"IngressRoute {name(route)}", spec, frozenset({"entryPoints", "routes"}))  # tls: not here
    for index, rule in enumerate(spec["routes"]):
        where = f"IngressRoute {name(route)} route {index}"
        _only(where, rule, ROUTE_FIELDS)
        if rule["kind"] != "Rule":
            raise Untranslatable(f"{where}: kind {rule['kind']}")
        key = f"{name(route)}-{index}"
        router: dict[str, Any] = {
            "entryPoints": list(spec["entryPoints"]),
            "rule": rule["match"],
            "service": key,
        }
        if "priority" in rule:
            router["priority"] = int(rule["priority"])
        chain = []
        for reference in rule.get("middlewares", []):
            _only(f"{where} middleware", reference, frozenset({"name"}))
            chain.append(reference["name"])
        if chain:
            router["middlewares"] = chain
        http["routers"][key] = router
        http["services"].update(_service(key, rule["services"], services, addresses, where))
    return set(spec["entryPoints"])


def _service(
    key: str,
    references: list[dict[str, Any]],
    services: dict[str, Object],
    addresses: Addresses,
    where: str,
) -> dict[str, Any]:
    """A route's backends: one load balancer, or a weighted one over a load balancer each (as the
    Kubernetes CRD provider builds them)."""
    balancers: dict[str, Any] = {}
    for index, reference in enumerate(references):
        _only(f"{where} service", reference, ROUTE_SERVICE_FIELDS)
        if reference["name"] not in services:
            raise Untranslatable(f"{where}: no Service {reference['name']} in the render")
        balancer: dict[str, Any] = {
            "servers": [{"url": _server(services[reference["name"]], reference, addresses)}],
            "passHostHeader": True,
        }
        if "serversTransport" in reference:
            balancer["serversTransport"] = reference["serversTransport"]
        balancers[f"{key}-{index}"] = (reference.get("weight"), {"loadBalancer": balancer})
    if len(balancers) == 1:
        return {key: next(iter(balancers.values()))[1]}
    weighted = [
        {"name": child} | ({"weight": weight} if weight is not None else {})
        for child, (weight, _) in balancers.items()
    ]
    return {key: {"weighted": {"services": weighted}}} | {c: b for c, (_, b) in balancers.items()}


def static(
    entry_points: dict[str, int], trusted: dict[str, list[str]], api_port: int, dynamic_file: str
) -> dict[str, Any]:
    """Traefik's static configuration: the entry points the routers use, each believing
    X-Forwarded-For from its ``trusted`` networks (what Traefik's own installation must set for the
    contract's ``trusted_proxies``: no IngressRoute can), and an internal one for the API and ping
    (loopback only); the file provider, errors only, no access log."""

    def entry_point(name: str, port: int) -> dict[str, Any]:
        point: dict[str, Any] = {"address": f"127.0.0.1:{port}"}
        if trusted.get(name):
            point["forwardedHeaders"] = {"trustedIPs": list(trusted[name])}
        return point

    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            **{ep: entry_point(ep, port) for ep, port in entry_points.items()},
            "traefik": {"address": f"127.0.0.1:{api_port}"},
        },
        "providers": {"file": {"filename": dynamic_file, "watch": False}},
        "api": {"insecure": True, "dashboard": False},
        "ping": {"entryPoint": "traefik"},
        "log": {"level": "ERROR"},
    }
