"""Route selection on the compiled plan, as Gateway API matches: host, then among the routes whose path
and method match, exact before prefix, the longer prefix, a listed method before none."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdoor.contract import load_contract
from frontdoor.contract.models import AccessRule
from frontdoor.contract.values import ListenAddress, RoutePath
from frontdoor.plan import Plan, PlannedEntrypoint, PlannedRoute, compile_plan
from frontdoor.policy.routing import Router, normalize_host

from .contracts import EDGE, TEAMS, environment, service, write

ROUTES_A = """
- {path: /orders, methods: [GET], access: public}
- {path: /orders, methods: [POST], access: authenticated}
- {path: =/orders/export, methods: [GET], access: authenticated}
- {path: /orders/admin, access: {claims: {role: admin}}}
"""
ROUTES_B = """
- {path: /, access: public}
- {path: /catalog, methods: [GET, HEAD], access: public}
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    root = write(
        tmp_path_factory.mktemp("routing"),
        {
            "teams.yaml": TEAMS,
            "edge.yaml": EDGE,
            "a.yaml": service("orders", "app-a", ROUTES_A),
            "b.yaml": service("web", "app-b", ROUTES_B),
            "env.yaml": environment("dev", ["orders", "web"]),
        },
    )
    result = load_contract(root)
    assert [f.render() for f in result.findings if f.severity == "error"] == []
    return compile_plan(result.contract, "dev")


@pytest.mark.parametrize(
    ("method", "path", "service", "route_path"),
    [
        ("GET", "/orders", "orders", "/orders"),
        ("GET", "/orders/7", "orders", "/orders"),
        ("GET", "/orders/", "orders", "/orders"),
        ("POST", "/orders/7/items", "orders", "/orders"),
        ("HEAD", "/orders/7", "orders", "/orders"),  # GET answers HEAD
        ("GET", "/ordersx", "web", "/"),  # prefixes match on segment boundaries only
        ("GET", "/orders/export", "orders", "=/orders/export"),
        ("GET", "/orders/export/2", "orders", "/orders"),  # "=" is exact
        ("DELETE", "/orders/admin/users/1", "orders", "/orders/admin"),  # longest prefix wins
        ("PATCH", "/anything/else", "web", "/"),
        ("GET", "/catalog/shoes", "web", "/catalog"),
    ],
)
def test_matches(plan: Plan, method: str, path: str, service: str, route_path: str) -> None:
    match = Router(plan.entrypoints).match("shop.example.com", path, method)
    assert match.status == 200 and match.route is not None
    assert (match.route.service, str(match.route.path)) == (service, route_path)


def test_a_method_falls_back_to_the_shorter_path(plan: Plan) -> None:
    router = Router(plan.entrypoints)
    # "=/orders/export" lists only GET: a POST to it is the "/orders" POST route's
    post = router.match("x", "/orders/export", "POST").route
    assert post is not None and (post.service, str(post.path), post.methods) == (
        "orders",
        "/orders",
        frozenset({"POST"}),
    )
    # no route of "/orders" lists DELETE: "/" (every method, another service) takes it
    delete = router.match("x", "/orders/7", "DELETE").route
    assert delete is not None and (delete.service, str(delete.path)) == ("web", "/")


ROUTES_405 = """
- {path: /cards, methods: [GET], access: public}
- {path: =/cards/settlement, methods: [POST], access: authenticated}
- {path: /cards/admin, methods: [DELETE, HEAD], access: authenticated}
"""


def test_405_only_when_no_matching_path_allows_the_method(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "teams.yaml": TEAMS,
            "edge.yaml": EDGE,
            "a.yaml": service("cards", "app-a", ROUTES_405),
            "env.yaml": environment("dev", ["cards"]),
        },
    )
    router = Router(compile_plan(load_contract(root).contract, "dev").entrypoints)
    settle = router.match("x", "/cards/settlement", "PUT")
    # Allow names what every matching path allows: the exact POST and the prefix's GET (and HEAD)
    assert (settle.status, settle.allowed) == (405, ("GET", "HEAD", "POST"))
    get = router.match("x", "/cards/settlement", "GET").route
    assert get is not None and str(get.path) == "/cards"
    # an explicit HEAD on the longer prefix wins over the shorter prefix's GET
    head = router.match("x", "/cards/admin/1", "HEAD").route
    assert head is not None and str(head.path) == "/cards/admin"
    admin = router.match("x", "/cards/admin/1", "POST")
    assert (admin.status, admin.allowed) == (405, ("DELETE", "GET", "HEAD"))
    assert router.match("x", "/other", "GET").status == 404


def _entrypoint(plan: Plan, name: str, hosts: tuple[str, ...]) -> PlannedEntrypoint:
    base = plan.entrypoints[0]
    return PlannedEntrypoint(name, base.listen, hosts, None, (), base.services, base.routes[:1])


def test_host_precedence(plan: Plan) -> None:
    router = Router(
        [
            _entrypoint(plan, "any", ("*",)),
            _entrypoint(plan, "wild", ("*.example.com",)),
            _entrypoint(plan, "deep", ("*.api.example.com",)),
            _entrypoint(plan, "exact", ("shop.example.com",)),
        ]
    )

    def chosen(host: str) -> str | None:
        table = router.table_for(host)
        return table.entrypoint.name if table else None

    assert chosen("shop.example.com") == "exact"
    assert chosen("SHOP.example.com:8443") == "exact"
    assert chosen("shop.example.com.") == "exact"
    assert chosen("a.example.com") == "wild"
    assert chosen("v1.api.example.com") == "deep"
    assert chosen("example.com") == "any"  # "*.example.com" needs at least one more label
    assert chosen("other.org") == "any"


def test_no_host_match_without_catch_all(plan: Plan) -> None:
    router = Router([_entrypoint(plan, "exact", ("shop.example.com",))])
    assert router.match("other.org", "/orders", "GET").status == 404


def test_normalize_host() -> None:
    assert normalize_host("Example.COM:443") == "example.com"
    assert normalize_host("[::1]:8080") == "::1"
    assert normalize_host(" a.b. ") == "a.b"


def test_plan_is_built_from_exposed_services_only(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "teams.yaml": TEAMS,
            "edge.yaml": EDGE,
            "a.yaml": service("orders", "app-a", ROUTES_A),
            "b.yaml": service(
                "ledger", "app-b", "- {path: /ledger, access: authenticated}", exposure="internal"
            ),
            "env.yaml": environment("dev", ["orders", "ledger"]),
        },
    )
    plan = compile_plan(load_contract(root).contract, "dev")
    assert {r.service for _, r in plan.routes()} == {"orders"}
    assert Router(plan.entrypoints).match("h", "/ledger", "GET").status == 404


# --- the tables against the precedence rules, written out plainly ------------------------------------

_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PROPFIND")
_SEGMENTS = ("a", "b", "ab")
_PUBLIC = AccessRule(mode="public")


def _matches_path(route: PlannedRoute, path: str) -> bool:
    own = route.path.path
    if route.path.exact:
        return path == own
    trimmed = path.rstrip("/") or "/"
    return own in ("/", trimmed) or trimmed.startswith(own + "/")


def _method_rank(route: PlannedRoute, method: str) -> int | None:
    """0: lists the method; 1: answers HEAD for its GET; 2: no methods; None: does not allow it."""
    if route.methods is None:
        return 2
    if method in route.methods:
        return 0
    return 1 if method == "HEAD" and "GET" in route.methods else None


def _reference(
    routes: list[PlannedRoute], path: str, method: str
) -> tuple[int, PlannedRoute | None, tuple[str, ...]]:
    on_path = [r for r in routes if _matches_path(r, path)]
    if not on_path:
        return 404, None, ()
    ranked = [
        ((not r.path.exact, -len(r.path.path), rank, order), r)
        for order, r in enumerate(routes)
        if r in on_path and (rank := _method_rank(r, method)) is not None
    ]
    if ranked:
        return 200, min(ranked, key=lambda pair: pair[0])[1], ()
    allowed = {m for r in on_path for m in r.methods or ()}
    if "GET" in allowed:
        allowed.add("HEAD")
    return 405, None, tuple(sorted(allowed))


_route_paths = st.lists(st.sampled_from(_SEGMENTS), max_size=3).map(lambda s: "/" + "/".join(s))
_routes = st.lists(
    st.tuples(
        _route_paths,
        st.booleans(),
        st.none() | st.frozensets(st.sampled_from(_METHODS[:-1]), min_size=1, max_size=3),
    ),
    max_size=8,
)
_request_paths = st.lists(st.sampled_from((*_SEGMENTS, "", "abc")), max_size=4).map(
    lambda s: "/" + "/".join(s)
)


@settings(max_examples=400, deadline=None)
@given(routes=_routes, requests=st.lists(st.tuples(_request_paths, st.sampled_from(_METHODS)), max_size=12))
def test_table_equals_the_precedence_rules(
    routes: list[tuple[str, bool, frozenset[str] | None]], requests: list[tuple[str, str]]
) -> None:
    planned = [
        PlannedRoute(f"s{i}", i, RoutePath(path, exact), methods, _PUBLIC, False, "app")
        for i, (path, exact, methods) in enumerate(routes)
    ]
    entrypoint = PlannedEntrypoint("e", ListenAddress("127.0.0.1", 80), ("*",), None, (), (), tuple(planned))
    router = Router([entrypoint])
    for path, method in requests:
        status, route, allowed = _reference(planned, path, method)
        match = router.match("h", path, method)
        assert (match.status, match.route, match.allowed) == (status, route, allowed), (path, method)
