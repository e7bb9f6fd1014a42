"""The example contract is valid and production-ready, as the README promises."""

from __future__ import annotations

from frontdoor.contract import load_contract
from frontdoor.report.check import run_check

from .conftest import SHOP


def test_example_loads_without_errors() -> None:
    result = load_contract(SHOP)
    assert [f.render() for f in result.findings if f.severity == "error"] == []
    assert set(result.contract.teams) == {"shop-app", "payments-app", "platform", "release-eng"}
    assert set(result.contract.services) == {"orders", "catalog", "payments", "account"}
    assert set(result.contract.environments) == {"dev", "test", "prod"}


def test_prod_is_ready() -> None:
    report = run_check(SHOP, "prod")
    assert report.exit_code == 0, [f.render() for f in report.failing()]
    (prod,) = report.environments
    assert prod.production
    assert {r.service for r in prod.routes} == {"orders", "catalog", "payments", "account"}


def test_every_environment_in_promotion_order() -> None:
    report = run_check(SHOP)
    assert [v.name for v in report.environments] == ["dev", "test", "prod"]
