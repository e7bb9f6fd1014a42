"""HSTS on gateway-api is per entrypoint, as serve and the rendered nginx send it: a service whose
Gateways disagree on ``tls.hsts`` gets HTTPRoutes of its own for each side (the header only on the
side that asks for it, 16 rules per HTTPRoute still), and every policy and alert that names the
service's HTTPRoutes names all of them. The sign-in routes follow, on gateway-api and on Traefik."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from frontdoor.http.messages import HSTS

from .test_render import documents, rendered
from .test_render_k8s_tls import named, valid

#: the routes of the service: a protected one in each chunk of 16 rules
ROUTES = "".join(
    f"    - {{path: /part{i}, access: {'authenticated' if i in (1, 17) else 'public'}}}\n" for i in range(18)
)

CONTRACT = f"""
apiVersion: frontdoor/v1
kind: Team
metadata: {{name: app}}
spec: {{role: app, oncall: {{primary: "mailto:app@example.com"}}}}
---
apiVersion: frontdoor/v1
kind: Team
metadata: {{name: edge}}
spec: {{role: platform}}
---
apiVersion: frontdoor/v1
kind: Team
metadata: {{name: delivery}}
spec: {{role: delivery}}
---
apiVersion: frontdoor/v1
kind: Service
metadata: {{name: api, owner: app}}
spec:
  exposure: public
  routes:
{ROUTES}  slo: {{availability: 99.5}}
---
apiVersion: frontdoor/v1
kind: Edge
metadata: {{name: edge, owner: edge}}
spec:
  entrypoints:
    - name: strict
      listen: "0.0.0.0:8443"
      hosts: [api.example.com]
      tls: {{cert: secret:strict-tls, key: secret:strict-key, hsts: true}}
      services: [api]
    - name: lax
      listen: "0.0.0.0:9443"
      hosts: [api.example.org]
      tls: {{cert: secret:lax-tls, key: secret:lax-key, hsts: LAX_HSTS}}
      services: [api]
  identity:
    providers:
      - {{name: idp, issuer: "https://idp.example.com/", audiences: [api], jwks_uri: "https://idp.example.com/keys"}}
  rate_limits: {{default: {{requests: 100, per: 10s}}}}
---
apiVersion: frontdoor/v1
kind: Environment
metadata: {{name: prod, owner: delivery}}
spec:
  upstreams:
    api: ["http://10.9.0.1:8080"]
  secrets: {{strict-tls: "file:/tls/s.crt", strict-key: "file:/tls/s.key", lax-tls: "file:/tls/l.crt", lax-key: "file:/tls/l.key"}}
"""

PLAIN = """    - {name: plain, listen: "0.0.0.0:8080", hosts: [api.example.net], services: [api]}
  identity:"""


#: browser sign-in at the provider, for one route of the service (so on every entrypoint)
SIGN_IN = {
    "{path: /part2, access: public}": "{path: /part2, access: {login: idp}}",
    'jwks_uri: "https://idp.example.com/keys"}': 'jwks_uri: "https://idp.example.com/keys", login: {client_id: web, '
    "client_secret: secret:web-secret, scopes: [openid], session: {ttl: 8h, idle: 1h}, "
    "cookie_keys: [secret:cookie-key]}}",
    'lax-key: "file:/tls/l.key"}': 'lax-key: "file:/tls/l.key", web-secret: "file:/s/web", cookie-key: "file:/s/key"}',
}


def gateway_api(
    root: Path, lax_hsts: bool, plain: bool = False, auth: str | None = None, login: bool = False
) -> list[dict[str, Any]]:
    text = CONTRACT.replace("LAX_HSTS", str(lax_hsts).lower())
    if plain:  # a plain HTTP entrypoint too: it never sends HSTS (RFC 6797 7.2)
        text = text.replace("  identity:", PLAIN)
    for before, after in SIGN_IN.items() if login else ():
        assert before in text
        text = text.replace(before, after)
    (root / "contract.yaml").write_text(text)
    docs = documents(rendered("gateway-api", root, auth=auth))
    valid(docs)  # every object against its schema (Kubernetes', or the CRD's: tests/render_schemas.py)
    return docs


def sets_hsts(rule: dict[str, Any]) -> bool:
    headers = [
        h
        for f in rule.get("filters", [])
        if f["type"] == "ResponseHeaderModifier"
        for h in f["responseHeaderModifier"]["set"]
    ]
    assert headers in ([], [{"name": "Strict-Transport-Security", "value": HSTS}])
    return bool(headers)


def routes_by_gateway(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        if doc["kind"] == "HTTPRoute" and doc["metadata"]["labels"].get("frontdoor.dev/service") == "api":
            for parent in doc["spec"]["parentRefs"]:
                out.setdefault(parent["name"], []).append(doc)
    return out


@pytest.mark.parametrize("plain", [False, True], ids=["two-tls", "and-plain-http"])
def test_each_gateway_sends_its_own_entrypoints_hsts(tmp_path: Path, plain: bool) -> None:
    docs = gateway_api(tmp_path, lax_hsts=False, plain=plain)
    by_gateway = routes_by_gateway(docs)
    assert sorted(by_gateway) == sorted(["strict", "lax"] + (["plain"] if plain else []))
    # the hsts Gateway's HTTPRoutes set the header on every rule, the others' on none; 16 rules each
    assert [d["metadata"]["name"] for d in by_gateway["strict"]] == ["api-hsts", "api-hsts-2"]
    for gateway in ("lax", "plain") if plain else ("lax",):
        assert [d["metadata"]["name"] for d in by_gateway[gateway]] == ["api", "api-2"]
    for gateway, routes in by_gateway.items():
        rules = [r for d in routes for r in d["spec"]["rules"]]
        assert [len(d["spec"]["rules"]) for d in routes] == [16, 2]
        assert [r["name"] for r in rules] == [f"route-{i}" for i in range(18)]
        assert {sets_hsts(r) for r in rules} == {gateway == "strict"}, gateway
    # the protected rule's SecurityPolicy, and the service's BackendTrafficPolicy, cover both sides
    for index, chunk in ((1, ""), (17, "-2")):
        policy = named(docs, "SecurityPolicy", f"api-route-{index}")
        assert [(t["name"], t["sectionName"]) for t in policy["spec"]["targetRefs"]] == [
            (f"api{chunk}", f"route-{index}"),
            (f"api-hsts{chunk}", f"route-{index}"),
        ]
        assert "jwt" in policy["spec"]
    assert len([d for d in docs if d["kind"] == "SecurityPolicy"]) == 2
    traffic = named(docs, "BackendTrafficPolicy", "api")
    assert [t["name"] for t in traffic["spec"]["targetRefs"]] == ["api", "api-2", "api-hsts", "api-hsts-2"]
    assert "rateLimit" in traffic["spec"]
    # the SLO alerts and the team's dashboard count the requests of every HTTPRoute of the service
    clusters = "httproute/frontdoor/(api|api-2|api-hsts|api-hsts-2)/rule/[0-9]+"
    for kind in ("PrometheusRule", "ConfigMap"):
        found = [d for d in docs if d["kind"] == kind and clusters in str(d)]
        assert found, kind


def test_the_authz_policy_covers_both_sides(tmp_path: Path) -> None:
    """With every request asking the authz (``--auth external``), the one SecurityPolicy targets every
    HTTPRoute of the service."""
    docs = gateway_api(tmp_path, lax_hsts=False, auth="external")
    policies = [d for d in docs if d["kind"] == "SecurityPolicy"]
    assert [p["metadata"]["name"] for p in policies] == ["api"]
    assert [t["name"] for t in policies[0]["spec"]["targetRefs"]] == [
        "api",
        "api-2",
        "api-hsts",
        "api-hsts-2",
    ]
    assert "extAuth" in policies[0]["spec"]


def test_gateways_that_agree_share_the_httproutes(tmp_path: Path) -> None:
    docs = gateway_api(tmp_path, lax_hsts=True)
    by_gateway = routes_by_gateway(docs)
    assert [d["metadata"]["name"] for d in by_gateway["strict"]] == ["api", "api-2"]
    assert by_gateway["strict"] == by_gateway["lax"]
    assert all(sets_hsts(r) for d in by_gateway["strict"] for r in d["spec"]["rules"])
    policy = named(docs, "SecurityPolicy", "api-route-17")
    assert [t["name"] for t in policy["spec"]["targetRefs"]] == ["api-2"]


@pytest.mark.parametrize("plain", [False, True], ids=["two-tls", "and-plain-http"])
def test_sign_in_answers_carry_each_gateways_hsts(tmp_path: Path, plain: bool) -> None:
    """serve sends HSTS on its /_frontdoor/ answers too (they are the gateway's own): the sign-in
    HTTPRoute of an hsts Gateway sets the header on every rule, that of a Gateway without it on none."""
    docs = gateway_api(tmp_path, lax_hsts=False, plain=plain, login=True)
    signin = {
        d["metadata"]["name"]: d
        for d in docs
        if d["kind"] == "HTTPRoute" and d["metadata"]["name"].startswith("frontdoor-signin")
    }
    assert sorted(signin) == ["frontdoor-signin", "frontdoor-signin-hsts"]
    parents = {name: [p["name"] for p in d["spec"]["parentRefs"]] for name, d in signin.items()}
    assert parents == {
        "frontdoor-signin": ["lax", "plain"] if plain else ["lax"],
        "frontdoor-signin-hsts": ["strict"],
    }
    for name, doc in signin.items():
        rules = doc["spec"]["rules"]
        assert [r["name"] for r in rules] == ["start", "callback", "logout"]
        assert all(r["backendRefs"][0]["name"] == "frontdoor-authz" for r in rules)
        assert {sets_hsts(r) for r in rules} == {name == "frontdoor-signin-hsts"}, name
    # nothing targets the sign-in HTTPRoutes by name: no policy is left naming only one of them
    targeted = [t["name"] for d in docs for t in d.get("spec", {}).get("targetRefs", [])]
    assert not [t for t in targeted if t.startswith("frontdoor-signin")]


def test_sign_in_on_gateways_that_agree_is_one_httproute(tmp_path: Path) -> None:
    docs = gateway_api(tmp_path, lax_hsts=True, login=True)
    signin = [
        d for d in docs if d["kind"] == "HTTPRoute" and d["metadata"]["name"].startswith("frontdoor-signin")
    ]
    assert [d["metadata"]["name"] for d in signin] == ["frontdoor-signin"]
    assert [p["name"] for p in signin[0]["spec"]["parentRefs"]] == ["strict", "lax"]
    assert all(sets_hsts(r) for r in signin[0]["spec"]["rules"])


def test_traefik_sign_in_routes_carry_their_entrypoints_hsts(tmp_path: Path) -> None:
    """The same on Traefik: the sign-in IngressRoute of an hsts entrypoint has the HSTS middleware,
    as that entrypoint's service routes do, and the one of an entrypoint without it has not."""
    text = CONTRACT.replace("LAX_HSTS", "false")
    for before, after in SIGN_IN.items():
        text = text.replace(before, after)
    (tmp_path / "contract.yaml").write_text(text)
    docs = documents(rendered("traefik", tmp_path))
    valid(docs)
    routes = {d["metadata"]["name"]: d for d in docs if d["kind"] == "IngressRoute"}

    def middlewares(name: str) -> list[set[str]]:
        return [{m["name"] for m in r.get("middlewares", [])} for r in routes[name]["spec"]["routes"]]

    signin = sorted(n for n in routes if n.startswith("frontdoor-signin"))
    assert len(signin) == 2, sorted(routes)
    for name in signin:
        strict = name.endswith("strict")
        assert [("frontdoor-hsts" in m) for m in middlewares(name)] == [strict], name
    services = [n for n in routes if not n.startswith("frontdoor-signin")]
    assert services and all(
        all(("frontdoor-hsts" in m) == n.endswith("strict") for m in middlewares(n)) for n in services
    ), services
