"""Gateway API (HTTPRoute, with Envoy Gateway's policies) as the spec matches a request.

Listener: an exact hostname, or ``*.suffix`` matching one or more labels before the suffix. A match
needs its path (``Exact``: equal; ``PathPrefix``: element-wise prefix, a trailing ``/`` ignored) and
its method (when given) to match. Among matches the spec's precedence decides: Exact over prefix, the
longer prefix, a match with a method over one without, then the oldest route (here: by name) and the
rule's order. No match is a 404; Gateway API has no 405.

Envoy Gateway's policies: a ClientTrafficPolicy's ``path.escapedSlashesAction: RejectRequest`` refuses
a path with %2F or %5C (400) before routing; a BackendTrafficPolicy's ``requestBuffer.limit`` refuses
a larger body (413) after the access checks (its buffer filter follows ext_authz and jwt_authn)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .k8s_model import JwtPolicy, Object, Reach, Refused, backend_service, host_of, name, normalize, of_kind

_ESCAPED_SLASH = re.compile("%(2f|5c)", re.IGNORECASE)


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _path_matches(match: Object, path: str) -> bool:
    spec = match.get("path", {"type": "PathPrefix", "value": "/"})
    value = str(spec["value"])
    if spec["type"] == "Exact":
        return path == value
    if spec["type"] == "PathPrefix":
        prefix = value.rstrip("/")
        return path == prefix or path.startswith(prefix + "/") or prefix == ""
    raise NotImplementedError(f"path match type {spec['type']}")


@dataclass
class _Candidate:
    route: Object
    rule: Object
    order: int
    match: Object

    def precedence(self) -> tuple[int, int, int, int, int, str, int]:
        path = self.match.get("path", {"type": "PathPrefix", "value": "/"})
        return (
            -(path["type"] == "Exact"),
            -len(str(path["value"])),
            -("method" in self.match),
            -len(self.match.get("headers", [])),
            -len(self.match.get("queryParams", [])),
            name(self.route),
            self.order,
        )


class GatewayApi:
    def __init__(self, found: list[Object]) -> None:
        self.found = found
        self.gateways = list(of_kind(found, "Gateway"))
        self.routes = list(of_kind(found, "HTTPRoute"))
        self.security = list(of_kind(found, "SecurityPolicy"))
        self.traffic = list(of_kind(found, "BackendTrafficPolicy"))
        self.client = list(of_kind(found, "ClientTrafficPolicy"))

    def reach(self, method: str, host: str, target: str, headers: dict[str, str] | None = None) -> Reach:
        host = host_of(host)
        gateways = {
            name(g)
            for g in self.gateways
            if any(
                _host_matches(str(listener.get("hostname", "*")), host) for listener in g["spec"]["listeners"]
            )
        }
        if not gateways:
            raise Refused(404, "no listener has the host")
        if _ESCAPED_SLASH.search(target.partition("?")[0]) and any(
            policy["spec"].get("path", {}).get("escapedSlashesAction") == "RejectRequest"
            for policy in self.client
            if any(ref["name"] in gateways for ref in policy["spec"]["targetRefs"])
        ):
            raise Refused(400, "an escaped slash (ClientTrafficPolicy path.escapedSlashesAction)")
        policies = [
            policy["spec"].get("path", {})
            for policy in self.client
            if any(ref["name"] in gateways for ref in policy["spec"]["targetRefs"])
        ]
        if not any(path.get("disableMergeSlashes") for path in policies):
            # Envoy Gateway merges adjacent slashes unless a ClientTrafficPolicy says not to
            before, mark, query_part = target.partition("?")
            target = re.sub("/{2,}", "/", before) + mark + query_part
        path, query = normalize(target)
        candidates = [
            _Candidate(route, rule, order, match)
            for route in self.routes
            if any(ref["name"] in gateways for ref in route["spec"]["parentRefs"])
            and (
                not route["spec"].get("hostnames")
                or any(_host_matches(h, host) for h in route["spec"]["hostnames"])
            )
            for order, rule in enumerate(route["spec"]["rules"])
            for match in rule.get("matches", [{}])
            if _path_matches(match, path) and match.get("method", method) == method
        ]
        if not candidates:
            raise Refused(404, "no HTTPRoute rule matches")
        chosen = min(candidates, key=_Candidate.precedence)
        return self._reach(chosen, path, query)

    def _reach(self, chosen: _Candidate, path: str, query: str) -> Reach:
        route, rule = name(chosen.route), str(chosen.rule.get("name", chosen.order))
        upstream = path
        for step in chosen.rule.get("filters", []):
            if step["type"] == "URLRewrite" and "path" in step["urlRewrite"]:
                rewrite = step["urlRewrite"]["path"]
                assert rewrite["type"] == "ReplacePrefixMatch"
                prefix = str(chosen.match["path"]["value"]).rstrip("/")
                rest = path[len(prefix) :]
                upstream = (
                    rewrite["replacePrefixMatch"].rstrip("/") + rest
                    if rest
                    else rewrite["replacePrefixMatch"]
                )
                upstream = upstream if upstream.startswith("/") else "/" + upstream
        backend = backend_service(self.found, chosen.rule["backendRefs"][0]["name"])
        # Envoy's ext_authz is asked about the normalized path, before any rewrite
        reach = Reach(f"HTTPRoute {route} {rule}", backend, upstream + query, authz_target=path + query)
        for policy in self.security:
            if any(self._targets(ref, route, rule) for ref in policy["spec"]["targetRefs"]):
                spec = policy["spec"]
                if "extAuth" in spec:
                    reach.authz = True
                    reach.identity_headers = tuple(spec["extAuth"]["http"].get("headersToBackend", ()))
                    reach.authz_headers = tuple(spec["extAuth"].get("headersToExtAuth", ()))
                if "jwt" in spec:
                    authorization = spec.get("authorization", {})
                    reach.jwt = JwtPolicy(
                        spec["jwt"]["providers"],
                        authorization.get("rules", []),
                        authorization.get("defaultAction") == "Deny",
                    )
        for policy in self.traffic:
            if any(self._targets(ref, route, rule) for ref in policy["spec"]["targetRefs"]):
                reach.rate_limits += policy["spec"].get("rateLimit", {}).get("local", {}).get("rules", [])
                limit = policy["spec"].get("requestBuffer", {}).get("limit")
                if limit is not None:
                    reach.body_limit = int(limit)  # in bytes, as the render writes it
        return reach

    @staticmethod
    def _targets(ref: Object, route: str, rule: str) -> bool:
        return bool(
            ref.get("kind") == "HTTPRoute" and ref["name"] == route and ref.get("sectionName", rule) == rule
        )
