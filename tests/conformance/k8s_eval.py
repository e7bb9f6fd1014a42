"""The Kubernetes targets, which cannot run here, evaluated from their rendered files: which rule each
request reaches (k8s_gateway.py, k8s_ingress.py, k8s_traefik.py), then what decides its access on the
way, as the platform would: a real `frontdoor authz` asked with the check request that platform sends
(Envoy's ext_authz, ingress-nginx's auth-url, Traefik's ForwardAuth), Envoy Gateway's native JWT
check (the token verified against the identity provider's JWKS with PyJWT, then the SecurityPolicy's
authorization rules), and Envoy Gateway's local rate limits (counted here)."""

from __future__ import annotations

import ipaddress
from typing import Any

import jwt

from ..parity_cases import IDENTITY
from .cases import Row
from .k8s_gateway import GatewayApi
from .k8s_ingress import IngressNginx
from .k8s_model import JwtPolicy, Object, Reach, Refused, objects, of_kind
from .k8s_traefik import Traefik
from .outcome import Outcome, challenge, exchange

PLATFORMS: dict[str, type[GatewayApi | IngressNginx | Traefik]] = {
    "gateway-api": GatewayApi,
    "ingress-nginx": IngressNginx,
    "traefik": Traefik,
}


class Evaluator:
    """One Kubernetes target's render, evaluated request by request against its own authz."""

    def __init__(self, target: str, files: dict[str, str], authz_port: int) -> None:
        self.target = target
        found = objects(files)
        self.platform = PLATFORMS[target](found)
        self.authz_port = authz_port
        self.removed = self._removed_headers(found)
        self.counts: dict[tuple[str, str], int] = {}
        self.trusted = [
            ipaddress.ip_network(c)
            for policy in of_kind(found, "ClientTrafficPolicy")
            for c in policy["spec"]
            .get("clientIPDetection", {})
            .get("xForwardedFor", {})
            .get("trustedCIDRs", [])
        ]
        self.jwks: dict[str, jwt.PyJWKClient] = {}

    @staticmethod
    def _removed_headers(found: list[Object]) -> set[str]:
        """Identity headers the platform removes from every request (what a client forged)."""
        removed = set()
        for obj in found:
            spec = obj.get("spec", {})
            if obj.get("kind") == "ClientTrafficPolicy":
                removed |= {
                    h.lower()
                    for h in spec.get("headers", {}).get("earlyRequestHeaders", {}).get("remove", [])
                }
            if obj.get("kind") == "Middleware":
                custom = spec.get("headers", {}).get("customRequestHeaders", {})
                removed |= {h.lower() for h, v in custom.items() if v == ""}
        return removed

    def decide(self, row: Row, headers: dict[str, str]) -> Outcome:
        try:
            reach = self.platform.reach(row.method, row.host, row.path, headers)
        except Refused as refused:
            return Outcome(refused.status, rule=str(refused))
        lowered = {k.lower(): v for k, v in headers.items()}
        too_big = reach.body_limit is not None and row.body is not None and len(row.body) > reach.body_limit
        if too_big and reach.body_first:
            return Outcome(413, rule=reach.rule)
        identity = {h: ("" if h in self.removed else lowered.get(h, "")) for h in IDENTITY}
        # Envoy Gateway's filter order: ext_authz, jwt_authn, the buffer (body limit), local rate limit
        if reach.authz:
            answer = self._ask_authz(reach, row, headers)
            if answer.status != 200:
                answer.rule = reach.rule
                return answer
            copied = {h.lower() for h in reach.identity_headers}
            identity |= {h: answer.identity.get(h, "") for h in IDENTITY if h in copied}
        if reach.jwt is not None:
            status, claims = self._jwt(reach.jwt, lowered)
            if status != 200:
                return Outcome(status, rule=reach.rule)
            identity |= claims
        if too_big:
            return Outcome(413, rule=reach.rule)
        if self._rate_limited(reach, lowered):
            return Outcome(429, rule=reach.rule)
        return Outcome(200, None, identity, reach.upstream, reach.backend, reach.rule)

    def _client(self, lowered: dict[str, str]) -> str:
        chain = [a.strip() for a in lowered.get("x-forwarded-for", "").split(",") if a.strip()] + [
            "127.0.0.1"
        ]
        for address in reversed(chain):
            if not any(ipaddress.ip_address(address) in network for network in self.trusted):
                return address
        return chain[0]

    def _rate_limited(self, reach: Reach, lowered: dict[str, str]) -> bool:
        limited = False
        for index, rule in enumerate(reach.rate_limits):
            key = ""
            for selector in rule.get("clientSelectors", []):
                cidr = selector.get("sourceCIDR")
                if cidr is not None:
                    client = self._client(lowered)
                    if ipaddress.ip_address(client) not in ipaddress.ip_network(cidr["value"]):
                        break
                    key = client if cidr.get("type") == "Distinct" else ""
            else:
                counted = (f"{reach.rule}#{index}", key)
                self.counts[counted] = self.counts.get(counted, 0) + 1
                limited |= self.counts[counted] > int(rule["limit"]["requests"])
        return limited

    def _jwt(self, policy: JwtPolicy, lowered: dict[str, str]) -> tuple[int, dict[str, str]]:
        """Envoy's jwt_authn (401 without a valid token), then the authorization rules (403)."""
        scheme, _, token = lowered.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 401, {}
        for provider in policy.providers:
            claims = self._verify(provider, token)
            if claims is None:
                continue
            if policy.rules and not any(
                self._allows(rule, provider["name"], claims) for rule in policy.rules
            ):
                return 403, {}
            headers = {}
            for mapping in provider.get("claimToHeaders", []):
                value = claims.get(mapping["claim"])
                headers[mapping["header"].lower()] = "" if value is None else str(value)
            return 200, headers
        return 401, {}

    def _verify(self, provider: Object, token: str) -> dict[str, Any] | None:
        uri = provider["remoteJWKS"]["uri"]
        client = self.jwks.setdefault(uri, jwt.PyJWKClient(uri, cache_keys=True))
        try:
            key = client.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256", "PS256", "EdDSA"],
                audience=provider.get("audiences"),
                issuer=provider.get("issuer"),
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError:
            return None
        return claims

    @staticmethod
    def _allows(rule: Object, provider: str, claims: dict[str, Any]) -> bool:
        principal = rule.get("principal", {}).get("jwt", {})
        if rule.get("action") != "Allow" or principal.get("provider") != provider:
            return False
        scopes = set(str(claims.get("scope", "")).split())
        if not set(principal.get("scopes", [])) <= scopes:
            return False
        for claim in principal.get("claims", []):
            value = claims.get(claim["name"])
            if claim.get("valueType") == "StringArray":
                if not isinstance(value, list) or not set(claim["values"]) & set(map(str, value)):
                    return False
            elif not isinstance(value, str) or value not in claim["values"]:
                return False
        return True

    def _ask_authz(self, reach: Reach, row: Row, headers: dict[str, str]) -> Outcome:
        """The check request this platform sends, answered by the real authz."""
        forwarded = {k: v for k, v in headers.items() if k.lower() != "x-forwarded-for"}
        client_xff = {k.lower(): v for k, v in headers.items()}.get("x-forwarded-for")
        xff = f"{client_xff}, 127.0.0.1" if client_xff and reach.forwards_client_for else "127.0.0.1"
        if self.target == "gateway-api":
            allowed = set(reach.authz_headers or ())
            check = {k: v for k, v in forwarded.items() if k.lower() in allowed}
            check |= {"Host": row.host, "X-Forwarded-For": xff}
            method, path = row.method, "/auth" + reach.authz_target
        elif self.target == "ingress-nginx":
            check = forwarded | {
                "Host": "127.0.0.1",
                "X-Original-Url": f"http://{row.host}{reach.authz_target}",
                "X-Original-Method": row.method,
                "X-Forwarded-For": xff,
            }
            method, path = "GET", "/auth"
        else:
            check = forwarded | {
                "Host": "127.0.0.1",
                "X-Forwarded-Method": row.method,
                "X-Forwarded-Host": row.host,
                "X-Forwarded-Uri": reach.authz_target,
                "X-Forwarded-Proto": "http",
                "X-Forwarded-For": xff,
            }
            method, path = "GET", "/auth"
        status, answer, _ = exchange(self.authz_port, method, path, check)
        if status == 200:
            return Outcome(200, identity={h: answer.get(h, "") for h in IDENTITY})
        if self.target == "ingress-nginx":
            # auth-url: a 401 or 403 reaches the client as ingress-nginx's own page (with the 401's
            # WWW-Authenticate, as nginx's auth_request passes it); any other is a 500
            if status == 401:
                return Outcome(
                    401, challenge=challenge({"www-authenticate": answer.get("www-authenticate", "")})
                )
            return Outcome(403, challenge={}) if status == 403 else Outcome(500)
        # Traefik's ForwardAuth and Envoy's ext_authz return the authz's denial as it is
        return Outcome(status, answer.get("x-frontdoor-deny"), challenge=challenge(answer))
