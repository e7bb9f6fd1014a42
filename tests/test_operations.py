"""Operations end to end: a real `frontdoor serve` (one and two workers), its admin listener, metrics,
access log, kill switch, audit log and reloads, over real sockets."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import ContractSpec, Gateway, Upstreams, request

TOKEN = "ops-test-token-3f9a1c"


@pytest.fixture(scope="module")
def gateway(upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # "other" gets no upstream server: its address is a port nobody listens on
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], admin_token=TOKEN)
    root = tmp_path_factory.mktemp("ops")
    running = Gateway(spec.write(root / "contract"), spec, root / "access.log", "--no-watch")
    yield running
    running.stop()


@pytest.fixture
def started(upstreams: Upstreams, tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Start gateways on a fresh contract (each call: the same spec, contract and state directory)."""
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")], admin_token=TOKEN
    )
    contract = spec.write(tmp_path / "contract")
    running: list[Gateway] = []

    def start(*extra: str) -> Gateway:
        gateway = Gateway(
            contract, spec, tmp_path / "access.log", "--state-dir", str(tmp_path / "state"), *extra
        )
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.stop()


def scrape(gateway: Gateway) -> dict[str, list[Any]]:
    status, body = gateway.admin("/metrics", token="")  # metrics need no token: loopback, no secrets
    assert status == 200
    return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}


def value(samples: dict[str, list[Any]], family: str, name: str = "", **labels: str) -> float:
    return sum(
        float(s.value)
        for s in samples.get(family, [])
        if (not name or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items())
    )


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


def admin_json(gateway: Gateway, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    status, data = gateway.admin(path, method, body)
    return status, json.loads(data)


# --- the admin API's door -------------------------------------------------------------------------------


def test_admin_api_needs_the_token(gateway: Gateway) -> None:
    for token in ("", "wrong-token", TOKEN + "x"):
        status, body = gateway.admin("/admin/routes", token=token)
        assert status == 401 and json.loads(body)["status"] == 401
        assert TOKEN not in body.decode()
    assert gateway.admin("/admin/services/shop/stop", "POST", {"reason": "x"}, token="")[0] == 401
    assert gateway.admin("/admin/routes")[0] == 200
    assert gateway.admin("/admin/openapi.json", token="")[0] == 200
    status, page = gateway.admin("/", token="")
    assert status == 200 and b"<title>frontdoor operations</title>" in page
    assert gateway.admin("/admin/nothing")[0] == 404
    assert gateway.admin("/admin/routes", "DELETE")[0] == 405


def test_route_table_names_owners_and_oncall(gateway: Gateway) -> None:
    status, table = admin_json(gateway, "/admin/routes")
    assert status == 200 and table["environment"] == "dev" and table["platform_team"] == "edge"
    shop = next(r for r in table["routes"] if r["id"] == "shop.0")
    assert shop["path"] == "/shop" and shop["owner"] == "shop" and shop["oncall"] == "pager:shop"
    assert shop["owners"]["stop"]["team"] == "edge" and shop["stopped"] is None


# --- metrics and the access log -------------------------------------------------------------------------


def test_metrics_are_labelled_from_the_contract(gateway: Gateway) -> None:
    before = scrape(gateway)
    for _ in range(3):
        assert request(gateway.spec.port, "GET", "/shop/items/42?x=1")[0] == 200
    assert request(gateway.spec.port, "GET", "/private/thing")[0] == 401
    assert request(gateway.spec.port, "GET", "/no/such/path/7")[0] == 404
    after = scrape(gateway)

    def delta(family: str, **labels: str) -> float:
        return value(after, family, **labels) - value(before, family, **labels)

    shop = {"route": "shop.0", "path": "/shop", "service": "shop", "owner": "shop"}
    assert delta("frontdoor_requests", name="frontdoor_requests_total", method="GET", code="2xx", **shop) == 3
    assert (
        delta("frontdoor_request_duration_seconds", name="frontdoor_request_duration_seconds_count", **shop)
        == 3
    )
    assert delta("frontdoor_denied", route="shop.1", kind="access", owner="shop") == 1
    assert delta("frontdoor_requests", route="unmatched", owner="edge", code="4xx") == 1
    # the raw path never becomes a label
    assert not any("/no/such" in str(s.labels) or "items" in str(s.labels) for f in after.values() for s in f)
    assert value(after, "frontdoor_workers") == 1
    assert value(after, "frontdoor_build_info", name="frontdoor_build_info") == 1
    contract = next(s for s in after["frontdoor_contract_info"])
    assert re.fullmatch(r"[0-9a-f]{64}", contract.labels["hash"]) and contract.labels["environment"] == "dev"


def test_upstream_failures_are_counted(gateway: Gateway) -> None:
    # "other"'s only upstream is a port nobody listens on: the gateway answers 502 itself
    before = scrape(gateway)
    status = request(gateway.spec.port, "GET", "/other/x")[0]
    assert status in (502, 503)  # refused, or no endpoint left once the health check noticed
    after = scrape(gateway)
    labels = {"route": "other.0", "kind": "error" if status == 502 else "unavailable"}
    assert (
        value(after, "frontdoor_upstream_errors", **labels)
        - value(before, "frontdoor_upstream_errors", **labels)
        == 1
    )


def test_access_log_line_has_trace_route_and_no_secrets(gateway: Gateway) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    status, headers, _ = request(
        gateway.spec.port,
        "GET",
        "/shop/./a/../logged?api_key=supersecretvalue&page=2",
        {"traceparent": f"00-{trace}-b7ad6b7169203331-01", "Authorization": "Bearer tok-abcdef123456"},
    )
    assert status == 200
    eventually(lambda: any(e.get("path") == "/shop/logged" for e in gateway.access_log()))
    entry = next(e for e in reversed(gateway.access_log()) if e.get("path") == "/shop/logged")
    assert entry["trace_id"] == trace and entry["request_id"] == headers["x-request-id"]
    assert entry["query"] == "api_key&page"  # names, never values
    assert entry["route"] == "shop.0" and entry["route_path"] == "/shop" and entry["owner"] == "shop"
    assert re.search(r"services\.yaml:\d+$", entry["clause"])
    assert entry["duration_ms"] >= entry["upstream_ms"] >= 0
    assert entry["subject"] is None and entry["denied_by"] is None
    text = gateway.log.read_text()
    assert "supersecretvalue" not in text and "tok-abcdef123456" not in text
    request(gateway.spec.port, "GET", "/private/x")
    eventually(lambda: any(e.get("path") == "/private/x" for e in gateway.access_log()))
    denied = next(e for e in reversed(gateway.access_log()) if e.get("path") == "/private/x")
    assert denied["status"] == 401 and denied["deny_kind"] == "access"
    assert denied["bytes"] == int(request(gateway.spec.port, "GET", "/private/x")[1]["content-length"]) > 0
    assert denied["denied_by"].startswith("access: authenticated") and denied["route"] == "shop.1"


# --- the kill switch and the audit log ------------------------------------------------------------------


def test_stop_and_start_a_route(gateway: Gateway) -> None:
    port = gateway.spec.port
    status, body = admin_json(gateway, "/admin/routes/shop.0/stop", "POST", {"reason": "leaking PII, INC-42"})
    assert status == 200 and body["stopped"]["owner"] == "shop"
    try:
        status, headers, raw = request(port, "GET", "/shop/anything")
        answer = json.loads(raw)
        assert status == 503 and answer["owner"] == "shop" and headers["retry-after"]
        assert "leaking PII, INC-42" in answer["reason"] and body["stopped"]["at"] in answer["reason"]
        assert request(port, "GET", "/exact")[0] == 200  # another route of the same service still serves
        table = admin_json(gateway, "/admin/routes")[1]
        assert (
            next(r for r in table["routes"] if r["id"] == "shop.0")["stopped"]["reason"]
            == "leaking PII, INC-42"
        )
    finally:
        status, body = admin_json(gateway, "/admin/routes/shop.0/start", "POST", {"reason": "fixed"})
    assert status == 200 and body["was_stopped"] is True
    assert request(port, "GET", "/shop/anything")[0] == 200
    records = admin_json(gateway, "/admin/audit?limit=5")[1]["records"]
    assert [(r["action"], r["target"]) for r in records[-2:]] == [
        ("stop", "route:shop.0"),
        ("start", "route:shop.0"),
    ]
    assert records[-2]["operator"] == "admin" and records[-2]["client"] == "127.0.0.1"
    assert records[-2]["reason"] == "leaking PII, INC-42"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/admin/services/nosuch/stop", {"reason": "x"}, 404),
        ("/admin/routes/shop.99/stop", {"reason": "x"}, 404),
        ("/admin/services/shop/stop", b"{not json", 400),
        ("/admin/services/shop/stop", b"[1, 2]", 400),
        ("/admin/services/shop/stop", {}, 400),
        ("/admin/services/shop/stop", {"reason": ""}, 400),
        ("/admin/services/shop/stop", {"reason": 7}, 400),
        ("/admin/services/shop/start", b"", 400),
        ("/admin/services/shop/pause", {"reason": "x"}, 404),
        ("/admin/traffic?window=7", None, 400),
        ("/admin/audit?limit=abc", None, 400),
    ],
)
def test_bad_admin_requests_are_refused_clearly(gateway: Gateway, path: str, body: Any, status: int) -> None:
    method = "GET" if body is None else "POST"
    got, raw = gateway.admin(path, method, body)
    assert got == status and json.loads(raw)["reason"]
    assert request(gateway.spec.port, "GET", "/shop/x")[0] == 200  # nothing was stopped


def test_stops_survive_a_restart_and_a_reload(started: Callable[..., Gateway]) -> None:
    first = started("--no-watch")
    assert admin_json(first, "/admin/services/shop/stop", "POST", {"reason": "bad deploy"})[0] == 200
    assert request(first.spec.port, "GET", "/shop/x")[0] == 503
    assert first.stop() == 0
    second = started("--no-watch")
    assert request(second.spec.port, "GET", "/shop/x")[0] == 503
    assert admin_json(second, "/admin/reload", "POST", {"reason": "after restart"})[0] == 200
    assert request(second.spec.port, "GET", "/shop/x")[0] == 503
    assert request(second.spec.port, "GET", "/exact")[0] == 503  # every route of the service
    records = admin_json(second, "/admin/audit")[1]["records"]
    assert [r["action"] for r in records] == ["stop", "reload"]  # the audit log survived the restart too


# --- reloads ---------------------------------------------------------------------------------------------


def test_reload_refuses_an_invalid_contract_and_says_why(started: Callable[..., Gateway]) -> None:
    gateway = started("--no-watch")
    services = gateway.contract / "services.yaml"
    original = services.read_text()
    services.write_text(original.replace("access: public}", "access: publik}", 1))
    status, result = admin_json(gateway, "/admin/reload", "POST", {})
    assert status == 422 and result["ok"] is False and "publik" in result["error"]
    assert request(gateway.spec.port, "GET", "/shop/x")[0] == 200  # the old plan serves on
    verdict = admin_json(gateway, "/admin/verdict")[1]
    assert verdict["last_reload"]["ok"] is False and "publik" in verdict["last_reload"]["error"]
    assert verdict["verdict"]["name"] == "dev"
    assert value(scrape(gateway), "frontdoor_contract_reloads", result="failure") == 1
    services.write_text(
        original.replace(
            "{path: /other, access: public}",
            "{path: /other, access: public}\n    - {path: /added, access: public}",
        )
    )
    status, result = admin_json(gateway, "/admin/reload", "POST", {"reason": "add /added"})
    assert status == 200 and result["ok"] is True
    assert request(gateway.spec.port, "GET", "/added/1")[0] == 200
    assert value(scrape(gateway), "frontdoor_contract_reloads", result="success") == 1
    assert admin_json(gateway, "/admin/audit")[1]["records"][-1]["reason"] == "add /added"


def test_an_edit_of_the_contract_directory_is_picked_up(started: Callable[..., Gateway]) -> None:
    gateway = started()  # watching is the default
    services = gateway.contract / "services.yaml"
    services.write_text(
        services.read_text().replace(
            "{path: /other, access: public}",
            "{path: /other, access: public}\n    - {path: /watched, access: public}",
        )
    )
    eventually(lambda: request(gateway.spec.port, "GET", "/watched")[0] == 200)
    verdict = admin_json(gateway, "/admin/verdict")[1]
    assert verdict["last_reload"]["trigger"] == "watch" and verdict["last_reload"]["ok"] is True


# --- several workers -------------------------------------------------------------------------------------


def test_two_workers_share_metrics_stops_and_reloads(started: Callable[..., Gateway]) -> None:
    gateway = started("--workers", "2", "--no-watch")
    port = gateway.spec.port
    before = value(scrape(gateway), "frontdoor_requests", route="shop.0")
    for _ in range(40):  # new connections: SO_REUSEPORT spreads them over both workers
        assert request(port, "GET", "/shop/x")[0] == 200
    time.sleep(1.5)  # each worker writes its numbers once a second

    def merged() -> bool:
        samples = scrape(gateway)
        return value(samples, "frontdoor_workers") == 2 and (
            value(samples, "frontdoor_requests", route="shop.0") - before == 40
        )

    for _ in range(6):  # any worker answers a scrape, and each answers for both
        eventually(merged, 5)
    assert admin_json(gateway, "/admin/services/shop/stop", "POST", {"reason": "both workers"})[0] == 200
    eventually(lambda: all(request(port, "GET", "/shop/x")[0] == 503 for _ in range(20)), 5)
    assert admin_json(gateway, "/admin/services/shop/start", "POST", {"reason": "done"})[0] == 200
    eventually(lambda: all(request(port, "GET", "/shop/x")[0] == 200 for _ in range(20)), 5)
    services = gateway.contract / "services.yaml"
    services.write_text(
        services.read_text().replace(
            "{path: /other, access: public}",
            "{path: /other, access: public}\n    - {path: /both, access: public}",
        )
    )
    assert admin_json(gateway, "/admin/reload", "POST", {})[0] == 200
    eventually(lambda: all(request(port, "GET", "/both")[0] == 200 for _ in range(20)), 5)


def test_no_request_fails_while_the_contract_is_reloaded_ten_times(started: Callable[..., Gateway]) -> None:
    gateway = started("--workers", "2", "--no-watch")
    port = gateway.spec.port
    services = gateway.contract / "services.yaml"
    original = services.read_text()
    edited = original.replace(
        "{path: /other, access: public}",
        "{path: /other, access: public}\n    - {path: /extra, access: public}",
    )
    stop = threading.Event()
    failures: list[str] = []
    counts: list[int] = []

    def load(keep_alive: bool) -> None:
        done = 0
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            while not stop.is_set() and done < 400:
                try:
                    connection.request("GET", f"/shop/load/{done}")
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        failures.append(f"status {response.status}")
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(repr(exc))
                done += 1
                if not keep_alive:
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        finally:
            connection.close()
            counts.append(done)

    threads = [threading.Thread(target=load, args=(n % 2 == 0,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        for number in range(10):
            # atomically: a worker still reloading from the previous trigger (slow on a loaded machine)
            # must never read a half-written file, which it would rightly count as a failed reload
            staged = services.with_suffix(".staged")
            staged.write_text(edited if number % 2 == 0 else original)
            os.replace(staged, services)
            if number % 3 == 2:
                gateway.signal(signal.SIGHUP)
                time.sleep(0.1)
            else:
                status, result = admin_json(gateway, "/admin/reload", "POST", {"reason": f"reload {number}"})
                assert status == 200, result
            time.sleep(0.15)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures[:5]
    assert sum(counts) >= 200
    time.sleep(1.2)  # every worker's numbers written
    samples = scrape(gateway)
    assert value(samples, "frontdoor_contract_reloads", result="failure") == 0
    # each of the ten triggers reloaded at least the worker it reached (SIGHUP: both)
    assert value(samples, "frontdoor_contract_reloads", result="success") >= 10


def test_protection_is_in_the_metrics(upstreams: Upstreams, tmp_path: Path) -> None:
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        admin_token=TOKEN,
        rate_limits="{default: {requests: 1, per: 1m, burst: 1, key: client}}",
        protection={"circuit_breaker": "{failure_ratio: 0.5, min_requests: 20, open_for: 10s}"},
    )
    gateway = Gateway(spec.write(tmp_path / "c"), spec, tmp_path / "log", "--no-watch")
    try:
        assert request(spec.port, "GET", "/shop/1")[0] == 200
        assert request(spec.port, "GET", "/shop/2")[0] == 429
        samples = scrape(gateway)
        assert value(samples, "frontdoor_rate_limited", service="shop", owner="shop") == 1
        assert value(samples, "frontdoor_denied", route="shop.0", kind="rate-limit") == 1
        assert value(samples, "frontdoor_protection_events", event="rate_limited", service="shop") == 1
        circuits = samples["frontdoor_circuit_state"]
        assert any(s.labels["service"] == "shop" and s.value == 0 for s in circuits)  # closed
    finally:
        gateway.stop()


def test_the_access_log_names_who_called(upstreams: Upstreams, tmp_path: Path) -> None:
    from .idp import API_KEYS, IdentityProvider, access_contract

    idp = IdentityProvider.with_keys().serve()
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], **access_contract(idp, tmp_path))
    gateway = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "access.log", "--no-watch")
    try:
        token = idp.token(sub="alice-7")
        assert request(spec.port, "GET", "/me", {"Authorization": f"Bearer {token}"})[0] == 200
        assert request(spec.port, "GET", "/batch/1", {"X-Api-Key": API_KEYS["billing"]})[0] == 200
        eventually(lambda: {"/me", "/batch/1"} <= {e.get("path") for e in gateway.access_log()})
        entries = {e["path"]: e for e in gateway.access_log()}
        assert entries["/me"]["subject"] == "alice-7" and entries["/me"]["api_client"] is None
        assert entries["/batch/1"]["api_client"] == "billing" and entries["/batch/1"]["subject"] is None
        text = gateway.log.read_text()
        assert token not in text and API_KEYS["billing"] not in text
    finally:
        gateway.stop()
        idp.down()
