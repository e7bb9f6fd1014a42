"""The traefik-live column's translator (traefik_file.py) maps the rendered objects one to one and
refuses what it does not know; the model's path sanitizing and ForwardAuth are what a real Traefik
3.7 was seen doing (traefik_live.py runs it in the matrix)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from .cases import TABLE
from .contract import UPSTREAMS, MatrixContract
from .k8s_model import Object, objects, sanitize
from .k8s_traefik import Traefik
from .outcome import Outcome
from .reference import reference
from .stack import _k8s_renders
from .traefik_file import Addresses, Untranslatable, static, translate
from .verdicts import judge

ADDRESSES = Addresses({f"{name}.upstream.test": "127.0.0.1" for name in UPSTREAMS}, "http://127.0.0.1:7000")


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> list[Object]:
    origins = {name: f"http://127.0.0.1:{9000 + index}" for index, name in enumerate(UPSTREAMS)}
    contract = MatrixContract(idp_port=9999, origins=origins)
    return objects(_k8s_renders(contract, Path(tmp_path_factory.mktemp("traefik")))["traefik"])


def test_every_route_becomes_a_router_with_its_rule_priority_and_chain(found: list[Object]) -> None:
    dynamic, entry_points = translate(found, ADDRESSES)
    http = dynamic["http"]
    assert entry_points == {"web"}
    routes = [
        (route, rule)
        for route in found
        if route["kind"] == "IngressRoute"
        for rule in route["spec"]["routes"]
    ]
    assert len(http["routers"]) == len(routes)
    for route, rule in routes:
        index = route["spec"]["routes"].index(rule)
        router = http["routers"][f"{route['metadata']['name']}-{index}"]
        assert router["rule"] == rule["match"] and router["priority"] == rule["priority"]
        assert router["middlewares"] == [m["name"] for m in rule["middlewares"]]
        assert router["entryPoints"] == route["spec"]["entryPoints"]
        balancer = http["services"][router["service"]]["loadBalancer"]
        port = rule["services"][0]["port"]
        assert balancer["servers"] == [{"url": f"http://127.0.0.1:{port}"}]
        assert balancer["serversTransport"] == "frontdoor-upstreams"
    assert http["middlewares"]["frontdoor-authz"]["forwardAuth"]["address"] == "http://127.0.0.1:7000/auth"
    assert http["middlewares"]["frontdoor-limits"] == {"buffering": {"maxRequestBodyBytes": 1024}}
    assert http["middlewares"]["extra-strip-0"] == {"stripPrefix": {"prefixes": ["/strip"]}}
    assert set(http["serversTransports"]) == {"frontdoor-upstreams"}


def _changed(found: list[Object], kind: str, change: str) -> list[Object]:
    altered = copy.deepcopy(found)
    target = next(o for o in altered if o["kind"] == kind)
    if change == "field":
        target["spec"]["somethingNew"] = True
    elif kind == "IngressRoute":
        target["spec"]["routes"][0]["somethingNew"] = True
    else:
        target["kind"] = change
    return altered


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("Middleware", "field"),
        ("ServersTransport", "field"),
        ("IngressRoute", "field"),
        ("IngressRoute", "route"),
        ("Service", "field"),
        ("NetworkPolicy", "TLSStore"),
    ],
)
def test_what_it_does_not_know_is_refused(found: list[Object], kind: str, change: str) -> None:
    with pytest.raises(Untranslatable):
        translate(_changed(found, kind, change), ADDRESSES)


def test_an_unknown_middleware_type_or_field_is_refused(found: list[Object]) -> None:
    specs: list[Object] = [{"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}}, {"forwardAuth": {"tls": {}}}]
    for spec in specs:
        altered = copy.deepcopy(found)
        next(o for o in altered if o["kind"] == "Middleware")["spec"] = spec
        with pytest.raises(Untranslatable):
            translate(altered, ADDRESSES)


def test_static_configuration_is_loopback_and_quiet() -> None:
    config = static({"web": 8080}, {"web": ["127.0.0.1/32"]}, 8081, "/d.yaml")
    assert config["entryPoints"]["web"] == {
        "address": "127.0.0.1:8080",
        "forwardedHeaders": {"trustedIPs": ["127.0.0.1/32"]},
    }
    assert config["entryPoints"]["traefik"] == {"address": "127.0.0.1:8081"}
    assert config["log"] == {"level": "ERROR"} and "accessLog" not in config


def test_traefik_sanitizes_paths_as_go_cleans_them() -> None:
    # each seen on a real Traefik 3.7 (what the upstream received)
    assert sanitize("/shop//x") == "/shop/x"
    assert sanitize("//shop") == "/shop"
    assert sanitize("/a//../b") == "/b"
    assert sanitize("/shop/.") == "/shop" and sanitize("/shop/x/..") == "/shop"
    assert sanitize("/shop/x/../") == "/shop/" and sanitize("/a/b/../../..") == "/"
    traefik = Traefik(
        [
            {
                "kind": "IngressRoute",
                "metadata": {"name": "t"},
                "spec": {"routes": [{"match": "PathPrefix(`/shop/`)", "services": [{"name": "s"}]}]},
            },
            {"kind": "Service", "metadata": {"name": "s"}, "spec": {"externalName": "shop.svc"}},
        ]
    )
    assert traefik.reach("GET", "x", "/shop//x?q=1").upstream == "/shop/x?q=1"


def test_the_path_cleaning_exception_excuses_only_the_cleaned_path() -> None:
    doubled = next(r for r in TABLE if r.name == "double slash")
    ref = reference(doubled, Outcome(200, upstream="/shop//x", backend="shop"))
    assert not judge(doubled, "traefik-live", ref, Outcome(200, upstream="/shop/x", backend="shop")).failed
    assert judge(doubled, "traefik-live", ref, Outcome(200, upstream="/shop/y", backend="shop")).failed
    assert judge(doubled, "caddy-authz", ref, Outcome(200, upstream="/shop/x", backend="shop")).failed


def test_the_cleaned_path_excuses_a_route_only_by_its_cleaning() -> None:
    leading = next(r for r in TABLE if r.name == "double slash before the prefix")
    ref = reference(leading, Outcome(404))
    cleaned = Outcome(200, upstream="/shop/x", backend="shop")
    assert not judge(leading, "traefik-live", ref, cleaned).failed
    assert judge(leading, "traefik-live", ref, Outcome(200, upstream="//shop/x", backend="shop")).failed
    plain = next(r for r in TABLE if r.name == "root path")  # no cleaning: a 200 is a difference
    assert judge(plain, "traefik-live", reference(plain, Outcome(404)), Outcome(200, upstream="/")).failed
    ending = next(r for r in TABLE if r.name == "dot-dot at the end")
    ref = reference(ending, Outcome(200, upstream="/shop/", backend="shop"))
    assert not judge(ending, "traefik", ref, Outcome(200, upstream="/shop", backend="shop")).failed
    assert judge(ending, "traefik", ref, Outcome(200, upstream="/shop/x", backend="shop")).failed
