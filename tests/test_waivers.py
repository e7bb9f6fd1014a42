"""Waivers (issue 14, item 4): a gap accepted in the contract by the team that owns its fix, with a
reason and an expiry date; expired, it is the gap again; from another team, it is refused."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jsonschema
import pytest

from frontdoor.cli import main
from frontdoor.contract import load_contract
from frontdoor.report.check import EXIT_GAPS, EXIT_INVALID, EXIT_READY, run_check
from frontdoor.report.jsonout import check_json
from frontdoor.report.markdown import check_markdown
from frontdoor.schema import contract_schema

from .conftest import edit, line_of

EDGE = "edges/public.yaml"
BEFORE = datetime.date(2027, 1, 31)
AFTER = datetime.date(2027, 2, 1)
WEBHOOK_TLS = """      tls:
        cert: secret:hooks-tls-cert
        key: secret:hooks-tls-key
        min_version: "1.3"
        hsts: true
      services: [payments]"""


def _no_tls_on_webhooks(root: Path) -> None:
    """A gap in prod the platform team owns: tls-required on the webhooks entrypoint."""
    edit(root, EDGE, WEBHOOK_TLS, "      services: [payments]")


def _waive(
    root: Path, file: str, target: str = "webhooks", extra: str = "", expires: str = "2027-01-31"
) -> None:
    with (root / file).open("a") as handle:
        handle.write(
            "  waivers:\n"
            f"    - rule: tls-required\n      target: {target}\n"
            '      reason: "the partner terminates TLS in front of us until the migration"\n'
            f"      expires: {expires}\n{extra}"
        )


def test_the_gap_without_a_waiver(shop_copy: Path) -> None:
    _no_tls_on_webhooks(shop_copy)
    report = run_check(shop_copy, "prod", today=BEFORE)
    assert report.exit_code == EXIT_GAPS
    gap = next(f for f in report.failing() if f.rule == "tls-required")
    assert (gap.target, gap.fix) == ("webhooks", "platform")
    assert check_json(report)["environments"][0]["findings"][0]["target"] == "webhooks"


def test_an_active_waiver_of_the_owning_team_accepts_the_gap(
    shop_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_tls_on_webhooks(shop_copy)
    _waive(shop_copy, EDGE)
    report = run_check(shop_copy, "prod", today=BEFORE)  # the last day it holds
    assert report.exit_code == EXIT_READY, [f.render() for f in report.failing()]
    [waived] = report.environments[0].waived
    assert (waived.finding.rule, waived.finding.target, waived.by.owner) == (
        "tls-required",
        "webhooks",
        "platform",
    )

    data = check_json(report)
    [entry] = data["waived"]
    assert entry == data["environments"][0]["waived"][0]
    assert entry["rule"] == "tls-required" and entry["target"] == "webhooks"
    assert entry["environment"] == "prod" and entry["expires"] == "2027-01-31"
    assert entry["team"] == "platform" and entry["declared_in"] == {"kind": "Edge", "name": "public-edge"}
    assert entry["reason"].startswith("the partner terminates TLS")
    assert entry["line"] == line_of(shop_copy, EDGE, "- rule: tls-required")
    assert data["ready"] is True

    markdown = check_markdown(report)
    assert "tls-required webhooks in prod: the partner terminates TLS" in markdown
    assert "### prod (production): ready, 1 waived" in markdown
    assert "**Ready.** 1 gap(s) waived by their owners." in markdown


def test_the_text_verdict_shows_the_waiver(shop_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _no_tls_on_webhooks(shop_copy)
    # the real clock: a date far enough for this test to keep passing
    _waive(shop_copy, EDGE, extra="      environments: [prod]\n", expires="2999-12-31")
    assert main(["check", str(shop_copy), "--env", "prod"]) == EXIT_READY
    out = capsys.readouterr().out
    assert "prod (production, Edge public-edge): READY, 1 WAIVED" in out
    assert "waived (accepted by the team that owns the fix, until the date):" in out
    assert "accepted by platform in Edge public-edge until 2999-12-31" in out
    assert out.splitlines()[-1].startswith("ready: every production check passes (1 gap(s) waived")


def test_an_expired_waiver_is_the_gap_again(shop_copy: Path) -> None:
    _no_tls_on_webhooks(shop_copy)
    _waive(shop_copy, EDGE)
    report = run_check(shop_copy, "prod", today=AFTER)
    assert report.exit_code == EXIT_GAPS
    rules = {f.rule for f in report.environments[0].findings}
    assert {"tls-required", "waiver-expired"} <= rules
    expired = next(f for f in report.environments[0].findings if f.rule == "waiver-expired")
    assert "expired on 2027-01-31" in expired.message and expired.fix == "platform"
    assert expired.where and expired.where.line == line_of(shop_copy, EDGE, "- rule: tls-required")
    assert not report.waived()


def test_a_waiver_by_a_team_that_does_not_own_the_fix_is_refused(shop_copy: Path) -> None:
    _no_tls_on_webhooks(shop_copy)
    _waive(shop_copy, "services/payments.yaml")  # payments-app owns the Service, not the fix
    report = run_check(shop_copy, "prod", today=BEFORE)
    assert report.exit_code == EXIT_GAPS
    refused = next(f for f in report.environments[0].findings if f.rule == "waiver-refused")
    assert "Service payments (owned by payments-app)" in refused.message
    assert "the fix is platform's: only platform may accept it, with a waiver in an Edge" in refused.message
    assert any(f.rule == "tls-required" for f in report.failing())


def test_a_waiver_for_another_environment_does_not_apply(shop_copy: Path) -> None:
    _no_tls_on_webhooks(shop_copy)
    _waive(shop_copy, EDGE, extra="      environments: [test]\n")
    assert run_check(shop_copy, "prod", today=BEFORE).exit_code == EXIT_GAPS


def test_a_waiver_matching_nothing_is_a_note(shop_copy: Path) -> None:
    _waive(shop_copy, EDGE, target="webhoks")
    report = run_check(shop_copy, today=BEFORE)
    assert report.exit_code == EXIT_READY
    [unused] = [f for f in report.contract_findings if f.rule == "waiver-unused"]
    assert unused.severity == "note" and "webhoks" in unused.message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("      expires: soon\n", "expires: found 'soon'; expected a date such as 2027-01-31"),
        ("      reason: ''\n", "reason"),
    ],
)
def test_a_malformed_waiver_is_invalid(shop_copy: Path, line: str, expected: str) -> None:
    with (shop_copy / EDGE).open("a") as handle:
        handle.write(
            "  waivers:\n    - rule: tls-required\n      target: webhooks\n"
            + ("      reason: why\n" if "reason" not in line else line)
            + ("      expires: 2027-01-31\n" if "expires" not in line else line)
        )
    report = run_check(shop_copy)
    assert report.exit_code == EXIT_INVALID
    assert any(expected in f.message for f in report.errors), [f.render() for f in report.errors]


def test_an_unknown_rule_lists_the_waivable_ones(shop_copy: Path) -> None:
    with (shop_copy / EDGE).open("a") as handle:
        handle.write("  waivers:\n    - {rule: tls, target: webhooks, reason: why, expires: 2027-01-31}\n")
    messages = [f.message for f in load_contract(shop_copy).findings if f.severity == "error"]
    assert any("rule: found 'tls'; expected one of tls-required," in m for m in messages), messages


def test_the_json_schema_describes_waivers(shop_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(contract_schema()))
    waiver = schema["$defs"]["Waiver"]
    assert set(waiver["required"]) == {"rule", "target", "reason", "expires"}
    assert "tls-required" in waiver["properties"]["rule"]["enum"]
    for spec in ("EdgeSpec", "ServiceSpec", "EnvironmentSpec"):
        assert "waivers" in schema["$defs"][spec]["properties"]
    document = {
        "apiVersion": "frontdoor/v1",
        "kind": "Service",
        "metadata": {"name": "orders", "owner": "shop-app"},
        "spec": {
            "exposure": "public",
            "waivers": [
                {"rule": "health-missing", "target": "orders", "reason": "r", "expires": "2027-01-31"}
            ],
        },
    }
    jsonschema.validate(document, schema)
    document["spec"]["waivers"][0]["rule"] = "not-a-rule"  # type: ignore[index]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_a_waiver_of_another_edge_does_not_reach_this_environment(shop_copy: Path) -> None:
    _no_tls_on_webhooks(shop_copy)
    _waive(shop_copy, "edges/dev.yaml")  # the same team, the same target name, but the dev Edge
    report = run_check(shop_copy, today=BEFORE)
    assert report.exit_code == EXIT_GAPS
    assert not report.waived()
    [unused] = [f for f in report.contract_findings if f.rule == "waiver-unused"]
    assert "Edge dev-edge waives tls-required for webhooks" in unused.message and "in dev:" in unused.message
