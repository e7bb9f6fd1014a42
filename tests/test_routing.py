"""Route selection on the compiled plan: host, then path (exact, longest prefix), then method."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdoor.contract import load_contract
from frontdoor.plan import Plan, PlannedEntrypoint, compile_plan
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


def test_method_not_allowed_lists_allowed(plan: Plan) -> None:
    match = Router(plan.entrypoints).match("x", "/orders/7", "DELETE")
    assert match.status == 405
    assert match.allowed == ("GET", "HEAD", "POST")
    exact = Router(plan.entrypoints).match("x", "/orders/export", "POST")
    assert exact.status == 405 and exact.allowed == ("GET", "HEAD")


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
