"""Target ``traefik``: Traefik IngressRoutes, with a ForwardAuth Middleware to ``frontdoor authz``.

Per exposed service and entrypoint, an IngressRoute with one route per contract path: hosts
(``*.example.com`` as a host regexp), the path on segment boundaries (``Path`` or ``PathPrefix`` of
``/orders/``), methods, and the Environment's upstreams as weighted services. Shared Middlewares, in
the order they run: drop any ``X-Frontdoor-*`` header a client sent, ask ``frontdoor authz``
(which admits, or denies with 401/403/429, and answers with the identity headers), retry failed
connections, cap the request body; HSTS where the entrypoint asks for it; strip the prefix where the
route asks for it. Upstream timeouts are a ServersTransport (one per upstream with ``tls``: its CA,
server name and client certificate). Client certificates are a TLSOption's ``clientAuth`` and the
passTLSClientCert Middleware before the authz; a per-host certificate loads through an IngressRoute of
its own (render/k8s_tls.py).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from frontdoor.contract.models import Protection
from frontdoor.http.messages import HSTS
from frontdoor.plan import PlannedEntrypoint, PlannedRoute
from frontdoor.render import authz_api, k8s_tls, tls
from frontdoor.render.alerts import SloMetrics, first_name, names_of
from frontdoor.render.backends import Backend, backends
from frontdoor.render.common import certificate, matched_methods, tls_secret_name
from frontdoor.render.context import Site
from frontdoor.render.labels import labels, obj
from frontdoor.render.netpol import EdgePods

API = "traefik.io/v1alpha1"
_STRIP_IDENTITY = "frontdoor-strip-identity"
_AUTHZ = "frontdoor-authz"
_LIMITS = "frontdoor-limits"
_RETRY = "frontdoor-retry"
_HSTS = "frontdoor-hsts"
_TRANSPORT = "frontdoor-upstreams"
_CLIENT_CERT = "frontdoor-client-cert"
#: Traefik writes "max-age=N" from stsSeconds, without includeSubDomains unless told: serve's value
_HSTS_SECONDS = int(HSTS.removeprefix("max-age="))


def _duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds != int(seconds) else f"{int(seconds)}s"


def _timeouts(protection: Protection) -> dict[str, str]:
    return {
        "dialTimeout": _duration(protection.timeouts.connect),
        "responseHeaderTimeout": _duration(protection.timeouts.upstream),
        "idleConnTimeout": _duration(protection.timeouts.idle),
    }


def _host_matcher(host: str) -> str | None:
    if host == "*":
        return None
    if host.startswith("*."):  # any depth of subdomain, never the bare domain
        return f"HostRegexp(`^.+{re.escape(host[1:])}$`)"
    return f"Host(`{host}`)"


def _path_matcher(route: PlannedRoute) -> str:
    path = route.path.path
    if route.path.exact:
        return f"Path(`{path}`)"
    if path == "/":
        return "PathPrefix(`/`)"
    # Traefik's PathPrefix is a string prefix: /orders would match /ordersx; the contract's is a segment
    return f"(Path(`{path}`) || PathPrefix(`{path}/`))"


def _method_matcher(entrypoint: PlannedEntrypoint, route: PlannedRoute) -> str | None:
    methods = matched_methods(route, [entrypoint])
    if methods is None:
        return None
    return "(" + " || ".join(f"Method(`{m}`)" for m in methods) + ")"


def priority(route: PlannedRoute) -> int:
    """serve's precedence among the routes a request matches (host, path and method): exact before
    prefix, the longer path, a method match before none. Exact ``/p`` and prefix ``/q`` both match only
    when ``/q`` is ``/p`` or shorter, so length first, then exactness, then methods."""
    return len(route.path.path) * 4 + 2 * route.path.exact + (route.methods is not None) + 1


class TraefikTarget:
    name = "traefik"
    dialect = "traefik"
    edge_pods = EdgePods("traefik", {"app.kubernetes.io/name": "traefik"})

    def edge_objects(self, site: Site) -> list[dict[str, Any]]:
        protection = site.plan.edge.spec.protection
        edge_labels = labels(site.environment, site.platform_team)
        out = [
            obj(
                API,
                "Middleware",
                _STRIP_IDENTITY,
                edge_labels,
                # an empty value removes the header; the client certificate header too: Traefik's
                # passTLSClientCert sets it from the handshake, but leaves a client's own in place
                # when no certificate was presented
                {
                    "headers": {
                        "customRequestHeaders": dict.fromkeys(
                            (*authz_api.IDENTITY_HEADERS, authz_api.TRAEFIK_CERTIFICATE_HEADER), ""
                        )
                    }
                },
            ),
            obj(
                API,
                "Middleware",
                _AUTHZ,
                edge_labels,
                {"forwardAuth": _forward_auth(site)},
            ),
            obj(
                API,
                "Middleware",
                _LIMITS,
                edge_labels,
                {"buffering": {"maxRequestBodyBytes": protection.max_request_body}},
            ),
            obj(
                API,
                "ServersTransport",
                _TRANSPORT,
                edge_labels,
                {"forwardingTimeouts": _timeouts(protection)},
            ),
        ]
        if protection.retries.attempts > 1:
            # Traefik retries only when the upstream could not be reached, as the contract allows for
            # every method; attempts counts every try, as the contract's does
            out.append(
                obj(
                    API,
                    "Middleware",
                    _RETRY,
                    edge_labels,
                    {"retry": {"attempts": protection.retries.attempts}},
                )
            )
        if any(k8s_tls.client_ca_secret(e) for e in site.plan.entrypoints):
            # the verified certificate (PEM bodies), which ForwardAuth passes on to the authz
            out.append(
                obj(API, "Middleware", _CLIENT_CERT, edge_labels, {"passTLSClientCert": {"pem": True}})
            )
        if any(e.sends_hsts for e in site.plan.entrypoints):
            out.append(obj(API, "Middleware", _HSTS, edge_labels, {"headers": {"stsSeconds": _HSTS_SECONDS}}))
        for entrypoint in site.plan.entrypoints:
            if entrypoint.tls is not None:
                option = tls.traefik(entrypoint.tls.min_version)
                ca = k8s_tls.client_ca_secret(entrypoint)
                if ca is not None and entrypoint.tls.client_auth is not None:
                    required = entrypoint.tls.client_auth.mode == "required"
                    option["clientAuth"] = {
                        "secretNames": [ca],
                        "clientAuthType": "RequireAndVerifyClientCert"
                        if required
                        else "VerifyClientCertIfGiven",
                    }
                out.append(
                    obj(API, "TLSOption", site.names.name("TLSOption", entrypoint.name), edge_labels, option)
                )
                out.extend(certificate(site, entrypoint))
        out.extend(_sign_in_routes(site, edge_labels))
        return out

    def service_objects(self, site: Site, service: str) -> list[dict[str, Any]]:
        owner = site.plan.service_owners[service]
        pool, objects = backends(site, service)
        services = []
        for b in pool:
            transport = _TRANSPORT
            if b.scheme == "https" and b.upstreams[0].tls is not None:
                transport = site.names.name("ServersTransport", b.name)
                objects.append(_upstream_transport(site, service, b, transport))
            services.append(
                {"name": b.name, "port": b.port, "weight": b.weight, "serversTransport": transport}
                | ({"scheme": "https"} if b.scheme == "https" else {})
            )
        protection = site.plan.edge.spec.protection
        object_labels = labels(site.environment, owner, service)
        for entrypoint in site.plan.entrypoints:
            if service not in entrypoint.services:
                continue
            routes = site.routes_of(entrypoint, service)
            if not routes:
                continue
            chain = [_STRIP_IDENTITY]
            if k8s_tls.client_ca_secret(entrypoint) is not None:
                chain.append(_CLIENT_CERT)  # before the authz, which reads it
            chain += [_AUTHZ, _LIMITS] + ([_RETRY] if protection.retries.attempts > 1 else [])
            if entrypoint.sends_hsts:
                chain.append(_HSTS)
            rules = []
            for route in routes:
                middlewares = [{"name": m} for m in chain]
                if route.strip_prefix and route.path.path != "/":
                    strip = site.names.name("Middleware", service, "strip", str(route.index))
                    objects.append(
                        obj(
                            API,
                            "Middleware",
                            strip,
                            object_labels,
                            {"stripPrefix": {"prefixes": [route.path.path]}},
                        )
                    )
                    middlewares.append({"name": strip})
                rules.append((route, middlewares))
            objects.append(
                _ingress_route(
                    site,
                    site.names.name("IngressRoute", service, entrypoint.name),
                    object_labels,
                    entrypoint,
                    list(entrypoint.hosts),
                    rules,
                    services,
                    None if entrypoint.tls is None else tls_secret_name(entrypoint.tls),
                )
            )
            # Traefik presents, by SNI, any certificate a route of the entry point names: a per-host
            # certificate is loaded by an IngressRoute of its own for those hosts (the same routes)
            by_secret: dict[str, list[str]] = {}
            for pair in k8s_tls.host_certificates(entrypoint):
                by_secret.setdefault(pair.secret, []).append(pair.host)
            for secret, hosts in sorted(by_secret.items()):
                objects.append(
                    _ingress_route(
                        site,
                        site.names.name("IngressRoute", service, entrypoint.name, secret),
                        object_labels,
                        entrypoint,
                        hosts,
                        rules,
                        services,
                        secret,
                    )
                )
        return objects

    def slo_metrics(self, site: Site, objects: list[dict[str, Any]]) -> SloMetrics:
        # Traefik names an IngressRoute's service <namespace>-<ingressroute>-<hash>@kubernetescrd
        routes = names_of(objects, "IngressRoute")
        selector = f'service=~"{site.options.namespace}-{routes}-[0-9a-f]+@kubernetescrd"'
        first = first_name(objects, "IngressRoute")
        route = next(
            (o for o in objects if o["kind"] == "IngressRoute" and o["metadata"]["name"] == first), None
        )
        # a service without routes has no IngressRoute (nor alerts to test): its sample names nothing
        key = "0" * 10 if route is None else _service_hash(route)
        example = f'service="{site.options.namespace}-{first}-{key}@kubernetescrd"'
        return SloMetrics(
            requests=f"traefik_service_requests_total{{{selector}}}",
            errors=f'traefik_service_requests_total{{{selector},code=~"5.."}}',
            latency_bucket=f"traefik_service_request_duration_seconds_bucket{{{selector}}}",
            latency_unit=1.0,
            sample_ok=f'traefik_service_requests_total{{{example},code="200",method="GET",protocol="http"}}',
            sample_error=f'traefik_service_requests_total{{{example},code="502",method="GET",protocol="http"}}',
            sample_bucket=f'traefik_service_request_duration_seconds_bucket{{{example},code="200",method="GET",protocol="http"}}',
        )


def _service_hash(ingress_route: dict[str, Any]) -> str:
    """The hash in the name Traefik gives the service of an IngressRoute's first route: the first 10
    hex digits of the SHA-256 of its ``match`` (makeServiceKey, traefik pkg/provider/kubernetes/crd), so
    that the sample series the alerts' unit tests feed are exactly what Traefik exports."""
    return hashlib.sha256(ingress_route["spec"]["routes"][0]["match"].encode()).hexdigest()[:10]


def _ingress_route(
    site: Site,
    name: str,
    object_labels: dict[str, str],
    entrypoint: PlannedEntrypoint,
    hosts: list[str],
    rules: list[tuple[PlannedRoute, list[dict[str, str]]]],
    services: list[dict[str, Any]],
    secret: str | None,
) -> dict[str, Any]:
    routes = [
        {
            "kind": "Rule",
            "match": _match(entrypoint, route, hosts),
            "priority": priority(route),
            "middlewares": middlewares,
            "services": services,
        }
        for route, middlewares in rules
    ]
    spec: dict[str, Any] = {
        "entryPoints": ["websecure" if entrypoint.tls else "web"],
        "routes": sorted(routes, key=lambda r: (-int(r["priority"]), str(r["match"]))),
    }
    if secret is not None:
        spec["tls"] = {
            "secretName": secret,
            "options": {"name": site.names.name("TLSOption", entrypoint.name)},
        }
    return obj(API, "IngressRoute", name, object_labels, spec)


def _upstream_transport(site: Site, service: str, backend: Backend, name: str) -> dict[str, Any]:
    """A ServersTransport of the upstream's own: the shared timeouts, and its ``tls``: the CA Secret
    it is verified against (else the system's store), the name its certificate must carry (else the
    URL's host, which Traefik checks by default, IP addresses included), its client certificate."""
    upstream = backend.upstreams[0]
    protection = site.plan.edge.spec.protection
    spec: dict[str, Any] = {"forwardingTimeouts": _timeouts(protection)}
    tls_settings = upstream.tls
    assert tls_settings is not None
    ca = k8s_tls.upstream_ca_secret(tls_settings, upstream, service)
    if ca is not None:
        spec["rootCAs"] = [{"secret": ca}]
    if tls_settings.server_name:
        spec["serverName"] = tls_settings.server_name
    client = k8s_tls.upstream_client_secret(tls_settings, upstream, service)
    if client is not None:
        spec["certificatesSecrets"] = [client]
    return obj(
        API,
        "ServersTransport",
        name,
        labels(site.environment, site.plan.service_owners[service], service),
        spec,
    )


def _forward_auth(site: Site) -> dict[str, Any]:
    auth: dict[str, Any] = {
        "address": authz_api.service_url(site.options.namespace),
        "authResponseHeaders": list(authz_api.IDENTITY_HEADERS),
        "trustForwardHeader": False,
    }
    providers = site.sign_in_providers()
    if providers:
        # the browser's cookies as the authz gives them back, without the sealed session: Traefik
        # replaces the request's Cookie with the answer's, and removes it when the answer has none
        auth["authResponseHeaders"].append(authz_api.UPSTREAM_COOKIE_HEADER)
        # a session an allow refreshed or whose idle deadline it moved: every one of its cookies to
        # the browser (Traefik 3.1+)
        auth["addAuthCookiesToResponse"] = [c for p in providers for c in authz_api.session_cookies(p)]
    return auth


def _sign_in_routes(site: Site, edge_labels: dict[str, str]) -> list[dict[str, Any]]:
    """Browser sign-in's paths on every entrypoint with a route that signs in, to the authz (it keeps
    the sessions); a browser without a session gets the authz's own redirect through ForwardAuth."""
    out = []
    paths = " || ".join(f"Path(`{p}`)" for p in authz_api.SIGN_IN_PATHS)
    for entrypoint in site.sign_in_entrypoints():
        hosts = [m for m in (_host_matcher(h) for h in entrypoint.hosts) if m]
        match = f"({paths})"
        if hosts and len(hosts) == len(entrypoint.hosts):
            match = (hosts[0] if len(hosts) == 1 else "(" + " || ".join(hosts) + ")") + " && " + match
        chain = [_STRIP_IDENTITY]
        if entrypoint.sends_hsts:
            chain.append(_HSTS)  # serve sends it on the sign-in answers of such an entrypoint too
        spec: dict[str, Any] = {
            "entryPoints": ["websecure" if entrypoint.tls else "web"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": match,
                    "priority": 100_000,  # before any route of the contract (they are the gateway's own)
                    "middlewares": [{"name": m} for m in chain],
                    "services": [{"name": authz_api.NAME, "port": authz_api.PORT}],
                }
            ],
        }
        if entrypoint.tls is not None:
            spec["tls"] = {
                "secretName": tls_secret_name(entrypoint.tls),
                "options": {"name": site.names.name("TLSOption", entrypoint.name)},
            }
        name = site.names.name("IngressRoute", "frontdoor-signin", entrypoint.name)
        out.append(obj(API, "IngressRoute", name, edge_labels, spec))
    return out


def _match(entrypoint: PlannedEntrypoint, route: PlannedRoute, names: list[str]) -> str:
    hosts = [m for m in (_host_matcher(h) for h in names) if m]
    parts = []
    if hosts and len(hosts) == len(names):  # "*" among them: any host
        parts.append(hosts[0] if len(hosts) == 1 else "(" + " || ".join(hosts) + ")")
    parts.append(_path_matcher(route))
    method = _method_matcher(entrypoint, route)
    if method:
        parts.append(method)
    return " && ".join(parts)
