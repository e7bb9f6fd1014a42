"""Envoy Gateway's access and rate-limit pieces of the gateway-api target: the JWT providers and
authorization rules of a SecurityPolicy (``native_access``), the ext_authz call to ``frontdoor
authz`` when Envoy cannot decide alone (``ext_auth``), and the selectors of a rate limit's bucket."""

from __future__ import annotations

import itertools
from typing import Any

from frontdoor.contract.models import AccessRule, Provider
from frontdoor.render import authz_api
from frontdoor.render.context import Site
from frontdoor.render.gateway_api_tls import asks_client_certificates

_MAX_CLAIM_VARIANTS = 16  # a claim may be a string or a list: 2**claims rules; past 4 claims use authz


def limit_selectors(key: str) -> list[list[dict[str, Any]]]:
    if key == "client":  # one bucket per client address, IPv4 and IPv6
        return [
            [{"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}],
            [{"sourceCIDR": {"type": "Distinct", "value": "::/0"}}],
        ]
    if key == "subject":
        return [[{"headers": [{"name": "X-Frontdoor-Subject", "type": "Distinct"}]}]]
    if key == "api_client":
        return [[{"headers": [{"name": "X-Frontdoor-Client", "type": "Distinct"}]}]]
    return [[]]  # route: one bucket for the whole route


def ext_auth(site: Site) -> dict[str, Any]:
    signs_in = bool(site.sign_in_providers())
    return {
        "extAuth": {
            "http": {
                "backendRefs": [
                    {
                        "group": "",
                        "kind": "Service",
                        "name": authz_api.NAME,
                        "port": authz_api.PORT,
                    }
                ],
                "path": authz_api.CHECK_PATH,
                # with sign-in, the browser's cookies as the authz gives them back, without the sealed
                # session: Envoy sets the answer's Cookie in place of the request's, and removes the
                # header when the answer names it in x-envoy-auth-headers-to-remove (nothing left)
                "headersToBackend": [h.lower() for h in authz_api.IDENTITY_HEADERS]
                + ([authz_api.UPSTREAM_COOKIE_HEADER.lower()] if signs_in else []),
            },
            # when a route signs browsers in, the session cookie too, and Accept, by which the authz
            # tells a browser (sent to sign in) from a script (401); and the client certificate Envoy
            # verified (XFCC), when an entrypoint asks for one
            "headersToExtAuth": list(authz_api.ENVOY_REQUEST_HEADERS)
            + (["cookie", "accept"] if signs_in else [])
            + ([authz_api.ENVOY_CERTIFICATE_HEADER] if asks_client_certificates(site) else []),
            "failOpen": False,
        }
    }


def _provider(p: Provider) -> dict[str, Any]:
    assert p.jwks_uri is not None
    out: dict[str, Any] = {
        "name": p.name,
        "issuer": str(p.issuer),
        "audiences": list(p.audiences),
        "remoteJWKS": {"uri": str(p.jwks_uri)},
        "claimToHeaders": [
            {"header": "X-Frontdoor-Subject", "claim": "sub"},
            {"header": "X-Frontdoor-Issuer", "claim": "iss"},
        ],
    }
    if p.scopes_claim == "scope":  # a list claim (scp) cannot become a header
        out["claimToHeaders"].append({"header": "X-Frontdoor-Scopes", "claim": "scope"})
    return out


def native_access(site: Site, access: AccessRule) -> dict[str, Any] | None:
    """JWT and authorization rules for ``access``, or None when Envoy Gateway cannot express it."""
    providers = site.plan.edge.spec.identity.providers
    if access.clients or access.login or not providers or any(p.jwks_uri is None for p in providers):
        return None  # API keys, and browser sessions (kept by the authz), are the authz's to check
    if any(not isinstance(v, str) for v in access.claims.values()):
        return None
    if 2 ** len(access.claims) > _MAX_CLAIM_VARIANTS:
        return None
    spec: dict[str, Any] = {"jwt": {"providers": [_provider(p) for p in providers]}}
    if access.mode == "authenticated" or not (access.scopes or access.claims):
        return spec  # any valid token of any provider
    rules = []
    claims = sorted(access.claims.items())
    for provider in providers:
        # "equal, or for a list claim contain": Envoy Gateway must be told the claim's type, so each
        # claim is tried as a string and as a list (every combination, each an Allow rule)
        for types in itertools.product(("String", "StringArray"), repeat=len(claims)):
            jwt: dict[str, Any] = {"provider": provider.name}
            matched = [
                {"name": name, "valueType": kind, "values": [str(value)]}
                for (name, value), kind in zip(claims, types, strict=True)
            ]
            if access.scopes and provider.scopes_claim == "scope":
                jwt["scopes"] = list(access.scopes)
            elif access.scopes:
                matched += [{"name": "scp", "valueType": "StringArray", "values": [s]} for s in access.scopes]
            if matched:
                jwt["claims"] = matched
            suffix = "-".join(t.lower() for t in types)
            rules.append(
                {
                    "name": f"{provider.name}-{suffix}" if suffix else provider.name,
                    "action": "Allow",
                    "principal": {"jwt": jwt},
                }
            )
    spec["authorization"] = {"defaultAction": "Deny", "rules": rules}
    return spec
