"""``check`` on rate limits against the declared load, in the style of test_contract_rules: the example
shop with one small edit, and the finding it must produce (rule, file and line, severity, who fixes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from frontdoor.cli import main
from frontdoor.errors import Finding
from frontdoor.report.check import EXIT_GAPS, EXIT_READY, run_check

from .conftest import edit, line_of

PUBLIC = "edges/public.yaml"
DEV_EDGE = "edges/dev.yaml"
ORDERS = "services/orders.yaml"
ORDERS_LIMIT = "      orders: {requests: 50, per: 1s, burst: 100, key: subject}"


def findings(root: Path, env: str, strict: bool = False) -> tuple[int, list[Finding]]:
    report = run_check(root, env, strict)
    assert report.errors == []
    return report.exit_code, [f for v in report.environments for f in v.findings]


@dataclass(frozen=True)
class Case:
    id: str
    file: str
    old: str
    new: str
    env: str
    rule: str
    needle: str  # on the line the finding points at, in PUBLIC or DEV_EDGE
    severity: str
    fix: str
    code: int  # check's exit status for ``env``
    says: tuple[str, ...]


CASES = [
    Case(
        "route-limit-below-peak-in-prod",
        PUBLIC,
        ORDERS_LIMIT,
        "      orders: {requests: 100, per: 1s, burst: 100, key: route}",
        "prod",
        "rate-limit-below-peak",
        "orders: {requests: 100",
        "gap",
        "platform, shop-app",
        EXIT_GAPS,
        ("peak_rps 600", "at most 500 requests/s", "5 route(s)", "429"),  # 100/s x 5 routes
    ),
    Case(
        "route-limit-below-peak-elsewhere-is-a-warning",
        PUBLIC,
        ORDERS_LIMIT,
        "      orders: {requests: 1, per: 1s, key: route}",
        "test",
        "rate-limit-below-peak",
        "orders: {requests: 1,",
        "warning",
        "platform, shop-app",
        EXIT_READY,
        ("at most 5 requests/s",),
    ),
    Case(
        "default-limit-below-peak-points-at-the-default",
        PUBLIC,
        "default: {requests: 100, per: 1s, burst: 200, key: client}",
        "default: {requests: 100, per: 1m, burst: 200, key: route}",
        "prod",
        "rate-limit-below-peak",
        "default: {requests: 100",
        "gap",
        "platform, shop-app",  # catalog, from the default (peak 2000)
        EXIT_GAPS,
        ("catalog declares peak_rps 2,000",),
    ),
    Case(
        "per-caller-limit-far-above-peak",
        PUBLIC,
        ORDERS_LIMIT,
        "      orders: {requests: 10000, per: 1s, burst: 100, key: subject}",
        "prod",
        "rate-limit-loose",
        "orders: {requests: 10000",
        "warning",
        "platform",
        EXIT_READY,  # a warning: production is not blocked by a generous limit
        ("one subject alone", "10,000 requests/s", "10x", "peak_rps of 600", "protects nothing"),
    ),
    Case(
        "route-limit-far-above-peak",
        PUBLIC,
        ORDERS_LIMIT,
        "      orders: {requests: 7000, per: 1s, key: route}",
        "prod",
        "rate-limit-loose",
        "orders: {requests: 7000",
        "warning",
        "platform",
        EXIT_READY,
        ("one route alone",),
    ),
    Case(
        "local-store-is-approximate",
        PUBLIC,
        "store: redis",
        "store: local",
        "prod",
        "rate-limit-local",
        "store: local",
        "note",
        "platform",
        EXIT_READY,
        ("per-replica limit", "across N workers is approximate", "100/1s by client", "store: redis"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rate_limit_findings(shop_copy: Path, case: Case) -> None:
    edit(shop_copy, case.file, case.old, case.new)
    code, found = findings(shop_copy, case.env)
    matching = [f for f in found if f.rule == case.rule]
    assert len(matching) == 1, [f.render() for f in found]
    finding = matching[0]
    assert finding.where is not None
    assert finding.where.file.endswith(case.file)
    assert finding.where.line == line_of(shop_copy, case.file, case.needle)
    assert (finding.severity, finding.fix, finding.environment) == (case.severity, case.fix, case.env)
    for text in case.says:
        assert text in finding.message, finding.message
    assert code == case.code


def test_the_example_is_within_its_declared_load(shop_copy: Path) -> None:
    for env in ("prod", "test"):
        _, found = findings(shop_copy, env)
        assert not [f for f in found if f.rule.startswith("rate-limit")], env
    _, dev = findings(shop_copy, "dev")
    assert [f.rule for f in dev if f.rule.startswith("rate-limit")] == ["rate-limit-local"]


def test_the_below_peak_gap_also_points_at_the_declared_peak(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, ORDERS_LIMIT, "      orders: {requests: 1, per: 1s, key: route}")
    _, found = findings(shop_copy, "prod")
    gap = next(f for f in found if f.rule == "rate-limit-below-peak")
    assert [r.line for r in gap.related] == [line_of(shop_copy, ORDERS, "peak_rps")]


def test_no_declared_peak_no_comparison(shop_copy: Path) -> None:
    edit(shop_copy, ORDERS, "  load: {expected_rps: 200, peak_rps: 600}\n", "")
    edit(shop_copy, PUBLIC, ORDERS_LIMIT, "      orders: {requests: 1, per: 1s, key: route}")
    _, found = findings(shop_copy, "prod")
    assert not [f for f in found if f.rule.startswith("rate-limit")]


def test_strict_fails_on_a_loose_limit(shop_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(shop_copy, PUBLIC, ORDERS_LIMIT, "      orders: {requests: 10000, per: 1s, key: subject}")
    assert main(["check", str(shop_copy), "--env", "prod", "--strict"]) == EXIT_GAPS
    out = capsys.readouterr().out
    assert "rate-limit-loose" in out
    assert "warnings" in out
