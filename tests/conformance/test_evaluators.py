"""The matrix's own parts can fail: the Kubernetes evaluators apply each platform's documented
matching (checked here on small hand-written objects, independent of frontdoor's renders), a broken
render is caught, and an exception excuses only the difference it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import TABLE, Row
from .contract import UPSTREAMS, MatrixContract
from .k8s_eval import Evaluator
from .k8s_gateway import GatewayApi
from .k8s_ingress import IngressNginx
from .k8s_model import Object, Refused, remove_dot_segments
from .k8s_traefik import Traefik, parse_rule
from .outcome import Outcome
from .reference import reference
from .stack import _k8s_renders
from .verdicts import judge

BACKENDS: list[Object] = [
    {
        "kind": "Backend",
        "metadata": {"name": name},
        "spec": {"endpoints": [{"fqdn": {"hostname": f"{name}.svc"}}]},
    }
    for name in ("any", "post", "exact")
]


def http_route(*rules: tuple[str, str, str, str | None]) -> list[Object]:
    """A Gateway for shop.test and *.shop.test, and one HTTPRoute: (backend, type, path, method)."""
    gateway = {
        "kind": "Gateway",
        "metadata": {"name": "gw"},
        "spec": {"listeners": [{"hostname": "shop.test"}, {"hostname": "*.shop.test"}]},
    }
    route = {
        "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {
                    "name": backend,
                    "backendRefs": [{"name": backend}],
                    "matches": [
                        {"path": {"type": kind, "value": path}, **({"method": method} if method else {})}
                    ],
                }
                for backend, kind, path, method in rules
            ],
        },
    }
    return [gateway, route, *BACKENDS]


def test_gateway_api_precedence_and_method_fallback() -> None:
    api = GatewayApi(
        http_route(("any", "PathPrefix", "/cards", None), ("post", "PathPrefix", "/cards/settlement", "POST"))
    )
    assert api.reach("POST", "shop.test", "/cards/settlement").backend == "post"  # the longer prefix
    assert api.reach("GET", "shop.test", "/cards/settlement").backend == "any"  # the method falls back
    assert api.reach("GET", "a.b.shop.test", "/cards").backend == "any"  # a wildcard spans labels
    with pytest.raises(Refused) as refused:
        api.reach("GET", "shop.test", "/cardsx")  # a prefix is element-wise
    assert refused.value.status == 404
    exact = GatewayApi(http_route(("any", "PathPrefix", "/x", None), ("exact", "Exact", "/x", "GET")))
    assert exact.reach("GET", "shop.test", "/x").backend == "exact"
    assert exact.reach("GET", "shop.test", "/x/").backend == "any"
    with pytest.raises(Refused):
        exact.reach("GET", "other.test", "/x")


def ingress(name: str, host: str, paths: list[tuple[str, str]], annotations: dict[str, str]) -> Object:
    return {
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "annotations": {f"nginx.ingress.kubernetes.io/{k}": v for k, v in annotations.items()},
        },
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {"path": p, "pathType": t, "backend": {"service": {"name": "any"}}}
                            for p, t in paths
                        ]
                    },
                }
            ]
        },
    }


def test_ingress_nginx_regex_mode_spreads_to_the_whole_host() -> None:
    plain = IngressNginx([ingress("a", "*.shop.test", [("/shop", "Prefix")], {}), *BACKENDS])
    assert plain.reach("GET", "eu.shop.test", "/shop/x").upstream == "/shop/x"
    for host, path in (("a.eu.shop.test", "/shop"), ("eu.shop.test", "/SHOP"), ("eu.shop.test", "/shopping")):
        with pytest.raises(Refused):
            plain.reach("GET", host, path)
    with pytest.raises(Refused) as refused:
        plain.reach("GET", "eu.shop.test", "/shop/../../x")
    assert refused.value.status == 400  # nginx refuses a .. above the root
    regex = IngressNginx(
        [
            ingress("a", "shop.test", [("/shop", "Prefix")], {}),
            ingress(
                "b", "shop.test", [("/strip(/|$)(.*)", "ImplementationSpecific")], {"rewrite-target": "/$2"}
            ),
            *BACKENDS,
        ]
    )
    assert regex.reach("GET", "shop.test", "/SHOPPING").rule == "Ingress a /shop"  # what use-regex does
    assert regex.reach("GET", "shop.test", "/strip/a/b?q=1").upstream == "/a/b?q=1"


def test_traefik_rules_and_priority() -> None:
    rule = parse_rule(
        "(Host(`a.test`) || HostRegexp(`^.+\\.a\\.test$`)) && !Method(`POST`) && PathPrefix(`/x`)"
    )
    assert rule(("GET", "b.a.test", "/x/1")) and not rule(("POST", "a.test", "/x"))
    assert not rule(("GET", "ba.test", "/x"))
    routes = [
        {"match": "PathPrefix(`/a`)", "services": [{"name": "any"}]},
        {"match": "PathPrefix(`/a/b`)", "services": [{"name": "post"}]},  # longer: higher priority
        {"match": "Path(`/a/b/c`)", "priority": 1, "services": [{"name": "exact"}]},  # explicit, lowest
    ]
    traefik = Traefik(
        [{"kind": "IngressRoute", "metadata": {"name": "t"}, "spec": {"routes": routes}}, *BACKENDS]
    )
    assert traefik.reach("GET", "x", "/a/b/c").backend == "post"
    assert traefik.reach("GET", "x", "/a/./z").backend == "any"


def test_dot_segments() -> None:
    assert remove_dot_segments("/a/./b/../c/") == "/a/c/"
    assert remove_dot_segments("/../a") == "/a"
    with pytest.raises(Refused):
        remove_dot_segments("/../a", refuse_above_root=True)


def row(name: str) -> Row:
    return next(r for r in TABLE if r.name == name)


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The matrix contract without its admin API: gateway-api's --auth native then checks tokens with
    Envoy Gateway's JWT policies, not the authz (which this test does not run)."""
    origins = {name: f"http://127.0.0.1:{9000 + index}" for index, name in enumerate(UPSTREAMS)}
    contract = MatrixContract(idp_port=9999, origins=origins, admin=False)
    return _k8s_renders(contract, Path(tmp_path_factory.mktemp("k8s")))


def test_a_render_without_its_access_policy_is_caught(renders: dict[str, dict[str, str]]) -> None:
    case = row("protected route without a token")
    served = Outcome(401)
    intact = Evaluator("gateway-api", renders["gateway-api"], authz_port=1).decide(case, {})
    assert not judge(case, "gateway-api", reference(case, served), intact).failed
    broken = {
        name: "---\n".join(doc for doc in text.split("---\n") if "kind: SecurityPolicy" not in doc)
        for name, text in renders["gateway-api"].items()
    }
    decided = Evaluator("gateway-api", broken, authz_port=1).decide(case, {})
    assert decided.status == 200  # the route is open without its policy
    assert judge(case, "gateway-api", reference(case, served), decided).failed


def test_an_exception_excuses_only_its_own_difference() -> None:
    case = row("unknown path")
    ref = reference(case, Outcome(404))
    assert not judge(case, "nginx-authz", ref, Outcome(403, "no-route")).failed  # auth_request's 403
    assert judge(case, "nginx-authz", ref, Outcome(403, "access")).failed  # the wrong kind
    assert judge(case, "caddy-authz", ref, Outcome(403, "no-route")).failed  # Caddy can answer 404
    allowed = row("stripped prefix")
    ref = reference(allowed, Outcome(200, upstream="/a/b", backend="extra"))
    assert not judge(allowed, "caddy-authz", ref, Outcome(200, upstream="/strip/a/b", backend="shop")).failed
    assert judge(allowed, "nginx-rendered", ref, Outcome(200, upstream="/strip/a/b", backend="extra")).failed
    assert judge(allowed, "caddy-authz", ref, Outcome(200, upstream="/elsewhere", backend="shop")).failed


def test_the_raw_uri_and_header_exceptions_excuse_only_their_own_difference() -> None:
    dotted = row("dot segment")
    ref = reference(dotted, Outcome(200, upstream="/shop/items", backend="shop"))
    raw = Outcome(200, upstream="/shop/./items", backend="shop")
    assert not judge(dotted, "ingress-nginx", ref, raw).failed  # ingress-nginx passes the client's URI
    assert judge(dotted, "traefik", ref, raw).failed  # Traefik sends the sanitized path: no excuse
    elsewhere = Outcome(200, upstream="/shop/other", backend="shop")
    assert judge(dotted, "ingress-nginx", ref, elsewhere).failed  # neither the raw nor serve's path
    big = row("header over the limit")
    ref = reference(big, Outcome(431))
    assert not judge(big, "gateway-api", ref, Outcome(200)).failed  # Envoy's 60 KiB default
    assert judge(big, "gateway-api", ref, Outcome(400)).failed
    assert judge(big, "traefik", ref, Outcome(200)).failed
