"""The specification's own examples, copied verbatim, load and pass in production once completed."""

from __future__ import annotations

import shutil
from pathlib import Path

from frontdoor.contract import load_contract
from frontdoor.report.check import run_check

SPEC = Path(__file__).parent / "fixtures" / "spec"


def test_spec_examples_are_valid_and_ready() -> None:
    report = run_check(SPEC, "prod")
    assert report.errors == []
    assert report.exit_code == 0, [f.render() for f in report.failing()]
    (prod,) = report.environments
    batch = next(r for r in prod.routes if r.path == "/orders/batch")
    assert batch.access == "clients billing-batch"
    assert batch.stop.name == "platform" and batch.explain.name == "shop-app"
    assert batch.rollback.name == "release-eng"
    # the one reference the examples leave dangling is reported, without failing the contract
    assert [f.rule for f in report.contract_findings] == ["openapi-missing"]


def test_spec_examples_typed_values() -> None:
    contract = load_contract(SPEC).contract
    edge = contract.edges["public-edge"].spec
    assert edge.protection.max_request_body == 1024 * 1024
    assert edge.protection.max_header_bytes == 16 * 1024
    assert edge.protection.timeouts.connect == 2.0
    assert edge.protection.circuit_breaker is not None and edge.protection.circuit_breaker.open_for == 10.0
    assert str(edge.entrypoints[0].trusted_proxies[0]) == "10.0.0.0/8"
    assert edge.entrypoints[0].tls is not None and edge.entrypoints[0].tls.min_version == "1.2"
    prod = contract.environments["prod"].spec
    assert [u.weight for u in prod.upstreams["orders"]] == [90, 10]
    assert str(prod.secrets["admin-token"]) == "env:FRONTDOOR_ADMIN_TOKEN"


def test_consumed_topic_without_producer_is_a_gap(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    shutil.copytree(SPEC, root)
    text = (root / "completion.yaml").read_text()
    (root / "completion.yaml").write_text(text.replace("produces: [payments.settled]", "produces: []"))
    report = run_check(root, "prod")
    assert report.exit_code == 1
    assert [f.rule for f in report.failing()] == ["event-unproduced"]
