"""Top clients being limited: the bounded count of 429s per client (protection/limitedclients.py), its
sum over the workers (/admin/limited), and the dashboard's list of them, in a real Chromium."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdoor.observe.metrics import merge
from frontdoor.protection.limitedclients import CAPACITY, SLOT_S, SLOTS, LimitedClients

from .harness import ContractSpec, Gateway, Upstreams, request

TOKEN = "limited-token-3f0b"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEADLINE_S = 30.0  # both workers' snapshots written (once a second each), on a busy machine


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_one_off_clients_keeps_the_memory_bounded_and_the_most_limited() -> None:
    clock = Clock()
    limited = LimitedClients(clock)
    for _ in range(50):
        limited.count("shop", "api_client", "billing")
    for n in range(10 * CAPACITY):  # every address once: a spread-out flood
        limited.count("shop", "address", f"10.0.{n // 256}.{n % 256}")
    assert sum(len(counts) for _, counts in limited.slots) <= CAPACITY
    assert limited.top(1) == [("shop", "api_client", "billing", 50)]


def test_counts_leave_after_a_minute() -> None:
    clock = Clock()
    limited = LimitedClients(clock)
    limited.count("shop", "subject", "alice")
    clock.now += SLOT_S
    limited.count("shop", "subject", "alice")
    assert limited.top() == [("shop", "subject", "alice", 2)]
    clock.now += SLOT_S * (SLOTS - 1)  # the first slot is out of the window, the second still in
    assert limited.top() == [("shop", "subject", "alice", 1)]
    clock.now += SLOT_S
    assert limited.top() == []
    assert len(limited.slots) <= SLOTS


def test_the_workers_counts_are_added_up() -> None:
    def snapshot(limited: list[list[Any]]) -> dict[str, Any]:
        events = {"reloads_ok": 0, "reloads_failed": 0, "contract_loaded_at": 0.0, "contract_hash": ""}
        events |= {"environment": "dev", "stopped": {}}
        return {"totals": [], "windows": {}, "circuit": [], "inflight": {}, "events": events} | {
            "limited": limited
        }

    merged = merge(
        [
            snapshot([["shop", "api_client", "billing", 3], ["shop", "address", "10.0.0.1", 1]]),
            snapshot([["shop", "api_client", "billing", 4]]),
        ]
    )
    assert merged.limited == {("shop", "api_client", "billing"): 7, ("shop", "address", "10.0.0.1"): 1}


# --- end to end: a real gateway with two workers ----------------------------------------------------------


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    from .idp import IdentityProvider, access_contract

    idp = IdentityProvider.with_keys().serve()
    upstreams = Upstreams()
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        admin_token=TOKEN,
        # shop counts by API client, other by address (the default); 2 a minute, 1 per worker
        rate_limits=(
            "{default: {requests: 2, per: 1m, burst: 2},"
            " services: {shop: {requests: 2, per: 1m, burst: 2, key: api_client}}}"
        ),
        **access_contract(idp, tmp_path),
    )
    running = Gateway(
        spec.write(tmp_path / "contract"), spec, tmp_path / "access.log", "--no-watch", "--workers", "2"
    )
    yield running
    running.stop()
    upstreams.close()
    idp.down()


def limited_now(gateway: Gateway) -> dict[tuple[str, str, str], int]:
    status, body = gateway.admin("/admin/limited")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["window_s"] == SLOT_S * SLOTS
    return {(c["service"], c["kind"], c["client"]): c["count"] for c in answer["clients"]}


def test_a_client_over_its_limit_is_shown_by_the_admin_api_and_the_dashboard(gateway: Gateway) -> None:
    from .idp import API_KEYS

    port = gateway.spec.port
    refused = {"billing": 0, "address": 0}
    for _ in range(12):  # a new connection each: SO_REUSEPORT spreads them over both workers
        status = request(port, "GET", "/batch/run", {"X-Api-Key": API_KEYS["billing"]})[0]
        assert status in (200, 429)
        refused["billing"] += status == 429
        status = request(port, "GET", "/other/x")[0]
        assert status in (200, 429)
        refused["address"] += status == 429
    assert refused["billing"] >= 8 and refused["address"] >= 8  # each worker admits 1 a minute
    expected = {
        ("shop", "api_client", "billing"): refused["billing"],
        ("other", "address", "127.0.0.1"): refused["address"],
    }
    deadline = time.monotonic() + DEADLINE_S
    answers: list[dict[tuple[str, str, str], int]] = []
    while time.monotonic() < deadline:
        answers = [limited_now(gateway) for _ in range(4)]  # new connections: either worker answers
        if all(answer == expected for answer in answers):
            break
        time.sleep(0.5)
    assert all(answer == expected for answer in answers), (answers, expected)
    status, body = gateway.admin("/admin/limited")
    assert API_KEYS["billing"].encode() not in body  # the client's name, never its key
    assert json.loads(body)["clients"][0]["owner"] == "shop"
    assert gateway.admin("/admin/limited", token="wrong")[0] == 401

    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{gateway.spec.admin_port}/")
            page.fill("#token", TOKEN)
            page.click("#save-token")
            billing = page.locator('#limited li[data-client="billing"]')
            billing.wait_for(timeout=10_000)
            text = billing.inner_text()
            assert text.startswith(f"{refused['billing']} \u00d7 API client billing on shop"), text
            address = page.locator('#limited li[data-client="127.0.0.1"]').inner_text()
            assert "address 127.0.0.1 on other" in address, address
            # beside the top deny reasons, which count the same refusals by rule
            assert page.locator('#denies li[data-kind="rate-limit"]').count() >= 1
            assert API_KEYS["billing"] not in page.content()
        finally:
            browser.close()
