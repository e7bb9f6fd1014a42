"""Effects of contract fields that no other test pins down (see field_effects.py): each test changes
one field of the example and sees what it drives change with it."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from pydantic import ValidationError

from frontdoor.contract.load import load_contract
from frontdoor.contract.models import Load
from frontdoor.render import RenderOptions, render
from frontdoor.verdict.environment import environment_verdict

from .conftest import edit
from .harness import ContractSpec, Gateway, Upstreams

PUBLIC = "edges/public.yaml"


def _render(root: Path, target: str) -> dict[str, str]:
    result = load_contract(root)
    assert result.valid, result.findings
    return render(result.contract, "prod", target, RenderOptions())


def test_escalation_and_hours_are_in_the_verdict(shop_copy: Path) -> None:
    def shop_app() -> tuple[str | None, str | None]:
        result = load_contract(shop_copy)
        assert result.contract is not None
        team = next(t for t in environment_verdict(result.contract, "prod").teams if t.name == "shop-app")
        return team.escalation, team.hours

    assert shop_app() == ("pagerduty:shop-eng-manager", "24x7")
    edit(shop_copy, "teams.yaml", 'escalation: "pagerduty:shop-eng-manager"', 'escalation: "call the CTO"')
    edit(
        shop_copy,
        "teams.yaml",
        'hours: 24x7\n  contact: {chat: "#shop"',
        'hours: business-hours\n  contact: {chat: "#shop"',
    )
    assert shop_app() == ("call the CTO", "business-hours")


def test_oncall_primary_and_contact_choose_the_alert_receiver(shop_copy: Path) -> None:
    def receiver() -> str:
        return _render(shop_copy, "gateway-api")["alertmanager/shop-app.yaml"]

    assert "pagerduty/shop-app-primary" in receiver()
    # an on-call Alertmanager cannot notify: the team's contact is the fallback, email then chat
    edit(shop_copy, "teams.yaml", 'primary: "pagerduty:shop-app-primary"', 'primary: "ring the desk phone"')
    assert "to: shop@example.com" in receiver()
    edit(
        shop_copy,
        "teams.yaml",
        'contact: {chat: "#shop", email: shop@example.com}',
        'contact: {chat: "#shop-oncall"}',
    )
    assert "channel: '#shop-oncall'" in receiver()


def test_runbooks_become_the_alerts_runbook_url(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "teams.yaml",
        "runbooks: https://runbooks.example.com/shop",
        "runbooks: https://wiki.example.com/shop-rb",
    )
    alerts = _render(shop_copy, "gateway-api")["services/orders.yaml"]
    assert "runbook_url: https://wiki.example.com/shop-rb" in alerts


def test_a_peak_below_the_expected_load_is_refused() -> None:
    assert Load.model_validate({"expected_rps": 100, "peak_rps": 150}).peak_rps == 150
    with pytest.raises(ValidationError, match="peak_rps is lower than expected_rps"):
        Load.model_validate({"expected_rps": 100, "peak_rps": 50})


def test_the_idle_timeout_is_rendered(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, "upstream: 30s, idle: 60s}", "upstream: 30s, idle: 17s}")
    assert "keepalive_timeout 17s;" in _render(shop_copy, "nginx")["nginx.conf"]
    assert "idleTimeout: 17s" in _render(shop_copy, "gateway-api")["edge.yaml"]


def test_only_idempotent_is_rendered(shop_copy: Path) -> None:
    assert "proxy_next_upstream error timeout;" in _render(shop_copy, "nginx")["nginx.conf"]
    edit(shop_copy, PUBLIC, "only_idempotent: true", "only_idempotent: false")
    assert "proxy_next_upstream error timeout non_idempotent;" in _render(shop_copy, "nginx")["nginx.conf"]


def test_serve_closes_a_connection_idle_longer_than_idle(tmp_path: Path) -> None:
    upstreams = Upstreams()
    # the header timeout is longer than the wait below: only the idle timeout can close the connection
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        idle_timeout="1s",
        header_timeout="30s",
    )
    gateway = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "access.log")
    connection = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=20)
    try:
        connection.request("GET", "/other/idle")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("connection") != "close"
        response.read()
        assert connection.sock is not None
        assert connection.sock.recv(1) == b""  # closed by the gateway, well before the 20 s timeout
    finally:
        connection.close()
        gateway.stop()
        upstreams.close()


def test_the_verdict_names_the_logged_headers(shop_copy: Path) -> None:
    def shown() -> str:
        result = load_contract(shop_copy)
        assert result.contract is not None
        return environment_verdict(result.contract, "prod").visibility["access_log"]

    assert shown() == "json, redacting authorization, cookie"
    edit(shop_copy, PUBLIC, "access_log: {format: json,", "access_log: {format: text, headers: [user-agent],")
    assert shown() == "text, logging headers user-agent, redacting authorization, cookie"
