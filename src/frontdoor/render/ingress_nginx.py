"""Target ``ingress-nginx``: Ingress objects with external authentication by ``frontdoor authz``.

The annotations are ingress-nginx's (also read by Traefik's ingress-nginx provider). Every request of
an exposed service is first sent to the authz Service (``auth-url``), which answers with the caller's
identity headers (``auth-response-headers``, which replace any a client sent); TLS comes from the
Secret named after the certificate reference, and a cert-manager issuer named in the Edge's
annotations is passed on. An Ingress cannot match methods, so method checks are the authz's too, and
a path whose methods reach different services (or rewrites) through serve's method fallback is refused.

Upstreams: one Service for an evenly balanced pool; two upstreams of different weights become a main
Ingress and a canary Ingress carrying the second one's share; more than two uneven upstreams cannot be
expressed by ingress-nginx and are refused.

Client certificates are the ``auth-tls-*`` annotations (the certificate reaches the authz's check as
``ssl-client-cert``), per-host certificates more ``tls`` entries, https upstreams the ``proxy-ssl-*``
annotations (render/k8s_tls.py).
"""

from __future__ import annotations

import math
from typing import Any

from frontdoor.plan import PlannedEntrypoint, PlannedRoute
from frontdoor.policy.routing import RouteTable
from frontdoor.render import authz_api, k8s_tls, tls
from frontdoor.render.alerts import SloMetrics, first_name, names_of
from frontdoor.render.backends import Backend, backends, pooled_backend
from frontdoor.render.common import cert_manager_annotations, tls_secret_name
from frontdoor.render.context import RenderError, Site
from frontdoor.render.labels import labels, obj
from frontdoor.render.netpol import EdgePods

A = "nginx.ingress.kubernetes.io/"
#: the controller's ConfigMap as the ingress-nginx Helm chart and manifests name it
CONTROLLER_CONFIGMAP = "ingress-nginx-controller"


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))  # ingress-nginx timeouts are whole seconds


class IngressNginxTarget:
    name = "ingress-nginx"
    dialect = "nginx"
    class_name = "nginx"
    edge_pods = EdgePods(
        "ingress-nginx",
        {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
    )

    def edge_objects(self, site: Site) -> list[dict[str, Any]]:
        _refuse_method_splits(site, self.name)
        entrypoints = site.sign_in_entrypoints()
        if not entrypoints:
            return []
        # browser sign-in's paths, to the authz (it keeps the sessions), on the hosts that sign in
        backend = {"service": {"name": authz_api.NAME, "port": {"number": authz_api.PORT}}}
        paths = [{"path": p, "pathType": "Exact", "backend": backend} for p in authz_api.SIGN_IN_PATHS]
        hosts = sorted({h for e in entrypoints for h in e.hosts})
        rules = [{"http": {"paths": paths}} | ({"host": h} if h != "*" else {}) for h in hosts]
        tls = sorted(
            {(tls_secret_name(e.tls), tuple(h for h in e.hosts if h != "*")) for e in entrypoints if e.tls}
        )
        spec: dict[str, Any] = {"ingressClassName": self.class_name, "rules": rules}
        if tls:
            spec["tls"] = [{"secretName": name, "hosts": list(h)} for name, h in tls]
        name = site.names.name("Ingress", "frontdoor-signin")
        edge_labels = labels(site.environment, site.platform_team)
        issuer = cert_manager_annotations(site.plan.edge.metadata.annotations) if tls else {}
        annotations = issuer | _client_auth(site, entrypoints, "frontdoor-signin")
        return [
            obj("networking.k8s.io/v1", "Ingress", name, edge_labels, spec, annotations=annotations or None)
        ]

    def controller_objects(self, site: Site) -> list[dict[str, Any]]:
        """The TLS policy as the controller's ConfigMap keys (ingress-nginx reads versions, suites and
        groups there only), in the controller's namespace, outside the kustomization (whose namespace
        would move it). Applied with ``kubectl apply``, these keys merge into the ConfigMap the
        controller's installation made; its other keys stay."""
        floors = {e.tls.min_version for e in site.plan.entrypoints if e.tls is not None}
        if not floors:
            return []
        return [
            obj(
                "v1",
                "ConfigMap",
                CONTROLLER_CONFIGMAP,
                labels(site.environment, site.platform_team),
                namespace=site.options.edge_namespace or self.edge_pods.namespace,
                data=tls.ingress_nginx(floors),
            )
        ]

    def service_objects(self, site: Site, service: str) -> list[dict[str, Any]]:
        owner = site.plan.service_owners[service]
        pooled = pooled_backend(site, service)
        canary: tuple[Backend, int] | None = None
        if pooled is not None:
            main, objects = pooled
        else:
            pool, objects = backends(site, service)
            if len(pool) != 2:
                raise RenderError(
                    f"service {service} splits traffic between {len(pool)} upstreams by weight; "
                    "ingress-nginx splits between two at most (a canary): use gateway-api or traefik"
                )
            main = pool[0]
            canary = (pool[1], pool[0].weight + pool[1].weight)
        parents = [e for e in site.plan.entrypoints if service in e.services]
        routes = site.routes_of(parents[0], service)
        if not routes:
            return objects
        protection = site.plan.edge.spec.protection
        annotations = {
            A + "auth-url": authz_api.service_url(site.options.namespace),
            A + "auth-response-headers": ",".join(_response_headers(site)),
            A + "proxy-body-size": str(protection.max_request_body),
            A + "proxy-connect-timeout": _seconds(protection.timeouts.connect),
            A + "proxy-read-timeout": _seconds(protection.timeouts.upstream),
            A + "proxy-send-timeout": _seconds(protection.timeouts.upstream),
            A + "proxy-next-upstream": "error timeout"
            + ("" if protection.retries.only_idempotent else " non_idempotent"),
            A + "proxy-next-upstream-tries": str(protection.retries.attempts),
        } | cert_manager_annotations(site.plan.edge.metadata.annotations)
        if main.scheme == "https":
            annotations |= _upstream_tls(site, service)
        annotations |= _sign_in_annotations(site, parents, routes)
        annotations |= _client_auth(site, parents, f"service {service}")
        tls = sorted(
            {
                (tls_secret_name(e.tls), tuple(h for h in e.hosts if h != "*"))
                for e in parents
                if e.tls is not None
            }
            # a per-host certificate (SNI) is a TLS entry of its own; ingress-nginx picks certificates
            # by the hosts of its rules, so each such name is also a rule (of the same paths)
            | {(c.secret, (c.host,)) for e in parents for c in k8s_tls.host_certificates(e)}
        )
        hosts = sorted(
            {h for e in parents for h in e.hosts}
            | {c.host for e in parents for c in k8s_tls.host_certificates(e)}
        )
        plain = [r for r in routes if not r.strip_prefix or r.path.path == "/"]
        stripped = [r for r in routes if r.strip_prefix and r.path.path != "/"]
        object_labels = labels(site.environment, owner, service)
        variants: list[tuple[str, list[PlannedRoute], dict[str, str]]] = []
        if plain:
            variants.append(("", plain, {}))
        if stripped:
            if any(r.path.exact for r in stripped):
                raise RenderError(
                    f"service {service}: ingress-nginx cannot rewrite an exact route with strip_prefix"
                )
            variants.append(("strip", stripped, {A + "use-regex": "true", A + "rewrite-target": "/$2"}))
        ingresses = []
        for suffix, group, extra in variants:
            spec = _spec(self.class_name, hosts, tls, group, main, regex=bool(suffix))
            name = site.names.name("Ingress", service, suffix)
            ingresses.append(
                obj(
                    "networking.k8s.io/v1",
                    "Ingress",
                    name,
                    object_labels,
                    spec,
                    annotations=annotations | extra,
                )
            )
            if canary is not None:
                backend, total = canary
                canary_annotations = {
                    A + "canary": "true",
                    A + "canary-weight": str(backend.weight),
                    A + "canary-weight-total": str(total),
                } | extra
                ingresses.append(
                    obj(
                        "networking.k8s.io/v1",
                        "Ingress",
                        site.names.name("Ingress", service, suffix, "canary"),
                        object_labels,
                        _spec(self.class_name, hosts, tls, group, backend, regex=bool(suffix)),
                        annotations=canary_annotations,
                    )
                )
        return objects + ingresses

    def slo_metrics(self, site: Site, objects: list[dict[str, Any]]) -> SloMetrics:
        ingresses = names_of(objects, "Ingress")
        selector = f'exported_namespace="{site.options.namespace}",ingress=~"{ingresses}"'
        example = f'exported_namespace="{site.options.namespace}",ingress="{first_name(objects, "Ingress")}"'
        return SloMetrics(
            requests=f"nginx_ingress_controller_requests{{{selector}}}",
            errors=f'nginx_ingress_controller_requests{{{selector},status=~"5.."}}',
            latency_bucket=f"nginx_ingress_controller_request_duration_seconds_bucket{{{selector}}}",
            latency_unit=1.0,
            sample_ok=f'nginx_ingress_controller_requests{{{example},method="GET",status="200"}}',
            sample_error=f'nginx_ingress_controller_requests{{{example},method="GET",status="503"}}',
            sample_bucket=f'nginx_ingress_controller_request_duration_seconds_bucket{{{example},method="GET",status="200"}}',
        )


def _spec(
    class_name: str,
    hosts: list[str],
    tls: list[tuple[str, tuple[str, ...]]],
    routes: list[PlannedRoute],
    backend: Backend,
    *,
    regex: bool,
) -> dict[str, Any]:
    paths: dict[tuple[str, str], dict[str, Any]] = {}
    target = {"service": {"name": backend.name, "port": {"number": backend.port}}}
    for route in routes:
        if regex:  # the prefix, then "/" or the end, then the rest that rewrite-target keeps
            key = (f"{route.path.path}(/|$)(.*)", "ImplementationSpecific")
        else:
            key = (route.path.path, "Exact" if route.path.exact else "Prefix")
        paths[key] = {"path": key[0], "pathType": key[1], "backend": target}
    http = {"paths": [paths[k] for k in sorted(paths)]}
    rules = [({"host": h} if h != "*" else {}) | {"http": http} for h in hosts]
    spec: dict[str, Any] = {"ingressClassName": class_name, "rules": rules}
    if tls:
        spec["tls"] = [{"secretName": name} | ({"hosts": list(h)} if h else {}) for name, h in tls]
    return spec


def _response_headers(site: Site) -> list[str]:
    """What ingress-nginx copies from the authz's allow onto the upstream request, replacing the
    client's: the identity, and where browsers sign in the Cookie without the sealed session (on every
    Ingress: a browser sends the session cookie to every path of its host)."""
    headers = list(authz_api.IDENTITY_HEADERS)
    if site.sign_in_providers():
        headers.append(authz_api.UPSTREAM_COOKIE_HEADER)
    return headers


def _sign_in_annotations(
    site: Site, parents: list[PlannedEntrypoint], routes: list[PlannedRoute]
) -> dict[str, str]:
    """An Ingress with a route that signs browsers in: ingress-nginx sends a 401 of the authz to the
    authz's start of the sign-in (``auth-signin``, as for oauth2-proxy's /oauth2/start), and passes a
    session cookie an allow refreshed on to the browser."""
    providers = sorted({r.access.login for r in routes if r.access.login})
    if not providers:
        return {}
    scheme = "https" if all(e.tls is not None for e in parents) else "$scheme"
    query = f"provider={providers[0]}&" if len(providers) == 1 else ""
    return {
        A + "auth-signin": f"{scheme}://$host/_frontdoor/start?{query}rd=$escaped_request_uri",
        A + "auth-always-set-cookie": "true",
    }


def _client_auth(site: Site, entrypoints: list[PlannedEntrypoint], what: str) -> dict[str, str]:
    """Client certificates (mutual TLS), verified by nginx against the CA Secret, and passed to the
    authz (``ssl-client-cert``, which the nginx dialect reads) by the auth subrequest. ingress-nginx
    sets them per host for every Ingress of that host, so the entrypoints behind one Ingress must agree."""
    wanted = {
        (k8s_tls.client_ca_secret(e), e.tls.client_auth.mode if e.tls and e.tls.client_auth else None)
        for e in entrypoints
    }
    if len(wanted) > 1:
        names = ", ".join(e.name for e in entrypoints)
        raise RenderError(
            f"{what}: ingress-nginx asks for client certificates per host, and its entrypoints ({names}) "
            "differ in tls.client_auth; give them the same, or use the gateway-api or traefik target"
        )
    ca, mode = wanted.pop()
    if ca is None:
        return {}
    return {
        A + "auth-tls-secret": f"{site.options.namespace}/{ca}",
        A + "auth-tls-verify-client": "on" if mode == "required" else "optional",
        A + "auth-tls-verify-depth": str(k8s_tls.VERIFY_DEPTH),
        A + "auth-tls-pass-certificate-to-upstream": "true",
    }


def _upstream_tls(site: Site, service: str) -> dict[str, str]:
    """An https upstream, verified as serve verifies it: against the CA of its ``tls.ca`` (ingress-nginx
    reads ``ca.crt``, and for mutual TLS ``tls.crt``/``tls.key``, from one Secret: proxy-ssl-secret),
    by the name serve checks, sent as SNI. Without a CA ingress-nginx would not verify at all (it has
    no system store for upstreams), so that is refused, never rendered unverified. One Ingress (and
    its canary, which takes the main Ingress's settings) reaches every upstream of the service: they
    must share their ``tls``."""
    pool = site.upstreams(service)
    settings = {(u.tls, k8s_tls.verified_name(u, service, "ingress-nginx")) for u in pool}
    if len(settings) > 1:
        raise RenderError(
            f"service {service}: ingress-nginx verifies every upstream of a service alike, and its https "
            "upstreams differ in tls (or in the name their certificates carry); give them one tls block"
        )
    upstream = pool[0]
    ca = k8s_tls.upstream_ca_secret(upstream.tls, upstream, service)
    if ca is None:
        raise RenderError(
            f"upstream {upstream.url} of {service}: ingress-nginx verifies an https upstream only against "
            "a CA in a Secret; give it tls.ca (secret:NAME, a Secret holding ca.crt)"
        )
    client = k8s_tls.upstream_client_secret(upstream.tls, upstream, service)
    if client is not None and client != ca:
        raise RenderError(
            f"upstream {upstream.url} of {service}: ingress-nginx reads the upstream's CA and the client "
            f"certificate from one Secret (ca.crt, tls.crt, tls.key); tls.ca names {ca} and tls.cert "
            f"{client}: name the same Secret"
        )
    return {
        A + "backend-protocol": "HTTPS",
        A + "proxy-ssl-secret": f"{site.options.namespace}/{ca}",
        A + "proxy-ssl-verify": "on",
        A + "proxy-ssl-verify-depth": str(k8s_tls.VERIFY_DEPTH),
        A + "proxy-ssl-name": k8s_tls.verified_name(upstream, service, "ingress-nginx"),
        A + "proxy-ssl-server-name": "on",
        A + "proxy-ssl-protocols": k8s_tls.UPSTREAM_PROTOCOLS,
    }


def _refuse_method_splits(site: Site, target: str) -> None:
    """An Ingress path goes to one backend whatever the method, while serve chooses the route by path
    and method (a method a path does not allow falls back to a shorter path): every route a path can
    reach must be the same service, with the same rewrite."""
    for entrypoint in site.plan.entrypoints:
        for path, routes in RouteTable(entrypoint).reachable():
            ways = {
                (r.service, r.path.path if r.strip_prefix and r.path.path != "/" else None) for r in routes
            }
            if len(ways) > 1:
                named = ", ".join(f"{r.path} {r.method_text} ({r.service})" for r in routes)
                raise RenderError(
                    f"entrypoint {entrypoint.name}: requests for {path} go to different places by method "
                    f"({named}); {target} routes by path only: use the gateway-api, traefik or nginx target"
                )
