"""Target ``gateway-api``: Gateway API objects as Envoy Gateway runs them.

- a Gateway per Edge entrypoint: a listener per host, TLS from the Secret named after the certificate
  reference; a ClientTrafficPolicy with the entrypoint's TLS floor, client timeouts, trusted proxies,
  the refusal (400) of an encoded slash or backslash in a path, as serve refuses them, and the early
  removal of any ``X-Frontdoor-*`` header a client sent;
- an HTTPRoute per exposed service, attached to every Gateway that exposes it, one named rule per
  contract route (path, methods; a GET route also matches HEAD), split between the Environment's
  upstreams by weight; HSTS where the entrypoint asks for it, so Gateways that disagree on it get
  HTTPRoutes of their own (``<service>`` without the header, ``<service>-hsts`` with it);
- access: with ``--auth native`` (the default) a SecurityPolicy per protected rule checks the JWT
  (providers, issuer, audiences) and the route's scopes and claims with Envoy Gateway's authorization
  rules; a rule Envoy Gateway cannot express (API clients, whose keys the contract holds only as hashes;
  non-string claims; a provider without ``jwks_uri``) is sent to ``frontdoor authz`` by ext_authz. With
  ``--auth external``, and whenever the Edge declares ``admin`` (a kill switch: a stop is known to the
  authz only, and may hit any route, public ones too), every request of the route goes to
  ``frontdoor authz``, which then also applies the rate limits and the kill switch;
- client certificates (ClientTrafficPolicy ``tls.clientValidation``, passed to the authz in XFCC), a
  listener per per-host certificate, https upstreams verified by a BackendTLSPolicy, and the upstream
  client certificate as an EnvoyProxy of the Gateway (render/k8s_tls.py);
- a BackendTrafficPolicy per route: upstream timeouts, retries of failed connections, the Edge's body
  limit (``requestBuffer``: a larger body is 413), and when Envoy decides access itself the rate limit.
"""

from __future__ import annotations

from typing import Any

from frontdoor.http.messages import HSTS
from frontdoor.plan import PlannedEntrypoint, PlannedRoute
from frontdoor.render import authz_api, k8s_tls, tls
from frontdoor.render.alerts import SloMetrics, first_name, names_of
from frontdoor.render.backends import backends
from frontdoor.render.common import (
    cert_manager_annotations,
    host_label,
    matched_methods,
    rate_per_unit,
    tls_secret_name,
)
from frontdoor.render.context import AUTH_EXTERNAL, Site
from frontdoor.render.envoy_security import ext_auth, limit_selectors, native_access
from frontdoor.render.gateway_api_tls import (
    EG,
    EG_GROUP,
    GW,
    backend_tls,
    envoy_proxy,
    listener_hosts,
    upstream_client_certificate,
)
from frontdoor.render.labels import labels, obj
from frontdoor.render.netpol import EdgePods

_MAX_RULES = 16  # Gateway API: rules per HTTPRoute


def _format_seconds(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds != int(seconds) else f"{int(seconds)}s"


class GatewayApiTarget:
    name = "gateway-api"
    dialect = "envoy"
    edge_pods = EdgePods(
        "envoy-gateway-system",
        {"app.kubernetes.io/managed-by": "envoy-gateway", "app.kubernetes.io/component": "proxy"},
    )

    # --- the edge: a Gateway per entrypoint ------------------------------------------------------

    def edge_objects(self, site: Site) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        edge = site.plan.edge
        protection = edge.spec.protection
        for entrypoint in site.plan.entrypoints:
            name = self.gateway_name(site, entrypoint.name)
            listeners = [self._listener(site, name, entrypoint, host) for host in listener_hosts(entrypoint)]
            gateway: dict[str, Any] = {"gatewayClassName": site.options.gateway_class, "listeners": listeners}
            proxy = upstream_client_certificate(site, entrypoint)
            if proxy is not None:
                proxy_name = site.names.name("EnvoyProxy", proxy)
                gateway["infrastructure"] = {
                    "parametersRef": {"group": EG_GROUP, "kind": "EnvoyProxy", "name": proxy_name}
                }
                out.append(envoy_proxy(site, proxy_name, proxy))
            out.append(
                obj(
                    f"{GW}/v1",
                    "Gateway",
                    name,
                    labels(site.environment, site.platform_team),
                    gateway,
                    annotations=cert_manager_annotations(edge.metadata.annotations) or None,
                )
            )
            spec: dict[str, Any] = {
                "targetRefs": [{"group": GW, "kind": "Gateway", "name": name}],
                "timeout": {
                    "http": {
                        "requestReceivedTimeout": _format_seconds(protection.timeouts.header),
                        "idleTimeout": _format_seconds(protection.timeouts.idle),
                    }
                },
                # before any filter runs, so neither JWT nor ext_authz can be fooled by them
                "headers": {"earlyRequestHeaders": {"remove": list(authz_api.IDENTITY_HEADERS)}},
                # serve refuses %2F and %5C in a path (400); Envoy Gateway's default would redirect.
                # serve keeps "//" as RFC 3986 does ("//shop/x" is no route of /shop); Envoy Gateway's
                # default merges adjacent slashes, which would route it to /shop
                "path": {"escapedSlashesAction": "RejectRequest", "disableMergeSlashes": True},
            }
            if entrypoint.tls is not None:
                spec["tls"] = tls.envoy_gateway(entrypoint.tls.min_version)
            ca = k8s_tls.client_ca_secret(entrypoint)
            if ca is not None and entrypoint.tls is not None and entrypoint.tls.client_auth is not None:
                spec["tls"]["clientValidation"] = {
                    "caCertificateRefs": [{"group": "", "kind": "Secret", "name": ca}],
                    "optional": entrypoint.tls.client_auth.mode == "optional",
                }
                # the verified certificate, for the authz (it reads Cert); whatever XFCC a client sent
                # is replaced, and removed when it presented no certificate
                spec["headers"]["xForwardedClientCert"] = {
                    "mode": "SanitizeSet",
                    "certDetailsToAdd": ["Cert"],
                }
            if entrypoint.trusted_proxies:
                spec["clientIPDetection"] = {
                    "xForwardedFor": {"trustedCIDRs": [str(n) for n in entrypoint.trusted_proxies]}
                }
            out.append(
                obj(f"{EG}", "ClientTrafficPolicy", name, labels(site.environment, site.platform_team), spec)
            )
        out.extend(self._sign_in_routes(site, site.sign_in_entrypoints()))
        return out

    def _sign_in_routes(self, site: Site, entrypoints: list[PlannedEntrypoint]) -> list[dict[str, Any]]:
        """Browser sign-in's paths, to the authz, which keeps the sessions (Envoy Gateway's own OIDC
        filter keeps sessions of its own, which the contract's claims and sign-out could not reach).
        Their answers carry HSTS where the entrypoint asks for it, as serve's do: Gateways that disagree
        get HTTPRoutes of their own, ``frontdoor-signin`` without the header and ``frontdoor-signin-hsts``
        with it (nothing else names them)."""
        if not entrypoints:
            return []
        backend = {"group": "", "kind": "Service", "name": authz_api.NAME, "port": authz_api.PORT}
        out = []
        for hsts, group, suffix in _hsts_groups(entrypoints):
            parents = [
                {"group": GW, "kind": "Gateway", "name": self.gateway_name(site, e.name)} for e in group
            ]
            rules = [
                {
                    "name": path.rsplit("/", 1)[1],
                    "matches": [{"path": {"type": "Exact", "value": path}}],
                    "backendRefs": [backend],
                }
                | ({"filters": [_hsts_filter()]} if hsts else {})
                for path in authz_api.SIGN_IN_PATHS
            ]
            out.append(
                obj(
                    f"{GW}/v1",
                    "HTTPRoute",
                    site.names.name("HTTPRoute", "frontdoor-signin", *suffix),
                    labels(site.environment, site.platform_team),
                    {"parentRefs": parents, "rules": rules},
                )
            )
        return out

    def gateway_name(self, site: Site, entrypoint: str) -> str:
        return site.names.name("Gateway", entrypoint)

    def _listener(self, site: Site, gateway: str, entrypoint: PlannedEntrypoint, host: str) -> dict[str, Any]:
        listener: dict[str, Any] = {
            "name": site.names.name(f"listener/{gateway}", host_label(host)),
            "port": entrypoint.listen.port,
            "protocol": "HTTPS" if entrypoint.tls else "HTTP",
            "allowedRoutes": {"namespaces": {"from": "Same"}},
        }
        if host != "*":
            listener["hostname"] = host
        if entrypoint.tls is not None:
            # the certificate serve would present for this name (SNI): Envoy chooses the listener by
            # the most specific hostname, so a per-host certificate is a listener of its own
            secret = k8s_tls.certificate_for(
                entrypoint.tls, entrypoint, host, tls_secret_name(entrypoint.tls)
            )
            listener["tls"] = {
                "mode": "Terminate",
                "certificateRefs": [{"group": "", "kind": "Secret", "name": secret}],
            }
        return listener

    # --- a service: backends, HTTPRoute, policies --------------------------------------------------

    def service_objects(self, site: Site, service: str) -> list[dict[str, Any]]:
        owner = site.plan.service_owners[service]
        pool, objects = backends(site, service, fqdn_as_backend=True)
        objects.extend(backend_tls(site, service, b) for b in pool if b.scheme == "https")
        backend_refs = [
            {
                "group": "" if b.kind == "Service" else "gateway.envoyproxy.io",
                "kind": b.kind,
                "name": b.name,
                "port": b.port,
                "weight": b.weight,
            }
            for b in pool
        ]
        parents = [e for e in site.plan.entrypoints if service in e.services]
        object_labels = labels(site.environment, owner, service)
        # an HTTPRoute holds at most 16 rules: a service with more routes gets several HTTPRoutes; and
        # HSTS is per entrypoint, as serve sends it: Gateways that disagree get HTTPRoutes of their own
        route_names: list[str] = []
        placed: list[tuple[str, PlannedRoute]] = []
        for hsts, group, suffix in _hsts_groups(parents):
            parent_refs = [
                {"group": GW, "kind": "Gateway", "name": self.gateway_name(site, e.name)} for e in group
            ]
            routes = site.routes_of(group[0], service)
            for start in range(0, len(routes), _MAX_RULES):
                chunk = routes[start : start + _MAX_RULES]
                number = "" if start == 0 else str(start // _MAX_RULES + 1)
                route_name = site.names.name("HTTPRoute", service, *suffix, number)
                route_names.append(route_name)
                placed.extend((route_name, r) for r in chunk)
                rules = [self._rule(route, group, backend_refs, hsts) for route in chunk]
                objects.append(
                    obj(
                        f"{GW}/v1",
                        "HTTPRoute",
                        route_name,
                        object_labels,
                        {"parentRefs": parent_refs, "rules": rules},
                    )
                )
        if not route_names:  # a service without routes: nothing routes to it (an empty route would)
            return objects
        objects.extend(self._security(site, service, route_names, placed))
        objects.append(self._traffic(site, service, route_names))
        return objects

    @staticmethod
    def rule_name(route: PlannedRoute) -> str:
        return f"route-{route.index}"

    def _rule(
        self,
        route: PlannedRoute,
        parents: list[PlannedEntrypoint],
        backend_refs: list[dict[str, Any]],
        hsts: bool,
    ) -> dict[str, Any]:
        # Gateway API's precedence is serve's: exact path, longer prefix, a method match, then the
        # rule's order; so a route without methods is a rule without a method match, and a route with N
        # methods is N matches (the matches of a rule are ORed)
        path = {"type": "Exact" if route.path.exact else "PathPrefix", "value": route.path.path}
        methods = matched_methods(route, parents)
        matches: list[dict[str, Any]] = (
            [{"path": path}] if methods is None else [{"path": path, "method": m} for m in methods]
        )
        rule: dict[str, Any] = {
            "name": self.rule_name(route),
            "matches": matches,
            "backendRefs": backend_refs,
        }
        filters: list[dict[str, Any]] = []
        if route.strip_prefix and route.path.path != "/":
            rewrite = (
                {"type": "ReplaceFullPath", "replaceFullPath": "/"}
                if route.path.exact
                else {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
            )
            filters.append({"type": "URLRewrite", "urlRewrite": {"path": rewrite}})
        if hsts:
            filters.append(_hsts_filter())
        if filters:
            rule["filters"] = filters
        return rule

    def _security(
        self, site: Site, service: str, route_names: list[str], placed: list[tuple[str, PlannedRoute]]
    ) -> list[dict[str, Any]]:
        owner = site.plan.service_owners[service]
        object_labels = labels(site.environment, owner, service)
        if _authz_decides_everything(site):
            # every request, public ones too: the authz also applies rate limits and the kill switch
            name = site.names.name("SecurityPolicy", service)
            refs = [{"group": GW, "kind": "HTTPRoute", "name": n} for n in route_names]
            return [obj(EG, "SecurityPolicy", name, object_labels, {"targetRefs": refs} | ext_auth(site))]
        # a rule is in one HTTPRoute per HSTS group: its policy targets it in each
        targets: dict[str, tuple[PlannedRoute, list[dict[str, str]]]] = {}
        for route_name, route in placed:
            if not route.access.is_public:
                rule = self.rule_name(route)
                ref = {"group": GW, "kind": "HTTPRoute", "name": route_name, "sectionName": rule}
                targets.setdefault(rule, (route, []))[1].append(ref)
        out = []
        for rule, (route, refs) in targets.items():
            spec = native_access(site, route.access)
            if spec is None:
                spec = ext_auth(site)
            name = site.names.name("SecurityPolicy", service, rule)
            out.append(obj(EG, "SecurityPolicy", name, object_labels, {"targetRefs": refs} | spec))
        return out

    def _traffic(self, site: Site, service: str, route_names: list[str]) -> dict[str, Any]:
        protection = site.plan.edge.spec.protection
        spec: dict[str, Any] = {
            "targetRefs": [{"group": GW, "kind": "HTTPRoute", "name": n} for n in route_names],
            "timeout": {
                "tcp": {"connectTimeout": _format_seconds(protection.timeouts.connect)},
                "http": {"requestTimeout": _format_seconds(protection.timeouts.upstream)},
            },
            # Envoy's buffer filter: a body over the limit is 413, after the access checks (as serve)
            "requestBuffer": {"limit": str(int(protection.max_request_body))},
        }
        if protection.retries.attempts > 1:
            # only failures before the request reached the upstream: safe for every method, which is
            # the one retry the contract allows whatever only_idempotent says
            spec["retry"] = {
                "numRetries": protection.retries.attempts - 1,
                "retryOn": {"triggers": ["connect-failure", "refused-stream"]},
            }
        limit = site.plan.rate_limit_for(service)
        if limit is not None and not _authz_decides_everything(site):
            requests, unit = rate_per_unit(limit)
            store = site.plan.edge.spec.rate_limits
            kind = "Global" if store is not None and store.store == "redis" else "Local"
            rules = [
                ({"clientSelectors": selectors} if selectors else {})
                | {"limit": {"requests": requests, "unit": unit}}
                for selectors in limit_selectors(limit.key)
            ]
            spec["rateLimit"] = {"type": kind, kind.lower(): {"rules": rules}}
        return obj(
            EG,
            "BackendTrafficPolicy",
            site.names.name("BackendTrafficPolicy", service),
            labels(site.environment, site.plan.service_owners[service], service),
            spec,
        )

    def slo_metrics(self, site: Site, objects: list[dict[str, Any]]) -> SloMetrics:
        # Envoy names a route's upstream cluster httproute/<namespace>/<route>/rule/<n>
        routes = names_of(objects, "HTTPRoute")
        cluster = f'envoy_cluster_name=~"httproute/{site.options.namespace}/{routes}/rule/[0-9]+"'
        first = first_name(objects, "HTTPRoute")
        example = f'envoy_cluster_name="httproute/{site.options.namespace}/{first}/rule/0"'
        return SloMetrics(
            requests=f"envoy_cluster_upstream_rq_total{{{cluster}}}",
            errors=f'envoy_cluster_upstream_rq_xx{{{cluster},envoy_response_code_class="5"}}',
            latency_bucket=f"envoy_cluster_upstream_rq_time_bucket{{{cluster}}}",
            latency_unit=0.001,
            sample_ok=f"envoy_cluster_upstream_rq_total{{{example}}}",
            sample_error=f'envoy_cluster_upstream_rq_xx{{{example},envoy_response_code_class="5"}}',
            sample_bucket=f"envoy_cluster_upstream_rq_time_bucket{{{example}}}",
            total_counts_errors=True,
        )


def _hsts_filter() -> dict[str, Any]:
    """The response header of an entrypoint with ``tls.hsts``, on each rule of its Gateways' HTTPRoutes
    (service routes and sign-in's alike), as serve adds it to every answer."""
    return {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"set": [{"name": "Strict-Transport-Security", "value": HSTS}]},
    }


def _hsts_groups(
    parents: list[PlannedEntrypoint],
) -> list[tuple[bool, list[PlannedEntrypoint], tuple[str, ...]]]:
    """The Gateways of a service (or of browser sign-in) by whether their entrypoint sends HSTS, as serve
    does (never over plain HTTP: RFC 6797 7.2, and a browser ignores it there, 8.1), each with the
    suffix of its HTTPRoutes' names: one group when they agree, named as ever; when they do not,
    ``<name>`` without the header and ``<name>-hsts`` with it."""
    sends = [e for e in parents if e.sends_hsts]
    others = [e for e in parents if not e.sends_hsts]
    if not sends or not others:
        return [(bool(sends), parents, ())]
    return [(False, others, ()), (True, sends, ("hsts",))]


def _authz_decides_everything(site: Site) -> bool:
    """Every request asks the authz: with ``--auth external``, and when the Edge has an admin API,
    whose stops (the kill switch) only the authz knows. Envoy's own JWT checks and rate limits are
    then not rendered: the authz applies them, and a limit counted twice would halve it."""
    return site.options.auth == AUTH_EXTERNAL or site.plan.edge.spec.admin is not None
