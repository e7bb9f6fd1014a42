"""Traffic protection end to end: ``frontdoor serve`` in subprocesses (two workers where it matters),
a real redis-server, and demo upstreams that are slow or failing on request.

Assertions are on statuses, headers and counts, never on how long something took: a request that would
hang on a dead Redis fails the test by its client timeout instead.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from frontdoor.protection.leases import lease_size

from .harness import ContractSpec, Gateway, RedisServer, Upstreams, free_port, request

LIMIT = "{requests: 10, per: 10m, burst: 10, key: client}"  # refills one request a minute: none in a test


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    servers = Upstreams()
    try:
        yield servers
    finally:
        servers.close()


def serve(tmp_path: Path, spec: ContractSpec, *extra: str) -> Gateway:
    return Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "access.log", *extra)


def statuses_on_new_connections(port: int, count: int) -> list[int]:
    """Each request on its own connection: with SO_REUSEPORT the kernel spreads them over the workers."""
    return [request(port, "GET", "/shop/x", timeout=5)[0] for _ in range(count)]


def statuses_on_one_connection(port: int, count: int) -> list[int]:
    """Every request on one keep-alive connection: one worker sees them all."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    found = []
    try:
        for _ in range(count):
            connection.request("GET", "/shop/x")
            response = connection.getresponse()
            response.read()
            found.append(response.status)
    finally:
        connection.close()
    return found


# --- rate limits across workers ----------------------------------------------------------------------


def test_a_redis_limit_is_one_limit_for_two_workers(
    tmp_path: Path, upstreams: Upstreams, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers admit the limit once between them, not once each.

    ``deny``: a Redis call that misses its 50 ms deadline on a busy test machine then refuses (503)
    instead of admitting uncounted (``allow`` would let a 12th request through and fail the test for the
    machine's sake), so the upper bound holds whatever the machine does; the exact sequence is asserted
    when no call failed (a failure refuses requests, it never admits more)."""
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        rate_limits=f"{{store: redis, on_store_failure: deny, default: {LIMIT}}}",
        secrets={"redis-url": "env:TEST_REDIS_URL"},
    )
    gateway = serve(tmp_path, spec, "--workers", "2")
    try:
        found = statuses_on_new_connections(spec.port, 30) + statuses_on_one_connection(spec.port, 10)
        # the limit's own answer (a store failure meanwhile answers 503 for its backoff window instead)
        for _ in range(200):
            status, headers, body = request(spec.port, "GET", "/shop/x")
            if status == 429:
                break
    finally:
        gateway.stop()
    assert set(found) <= {200, 429, 503}
    assert 429 in found, gateway.output()  # the shared bucket ran out, not the store
    # the limit, plus at most one refill if the test were slow
    assert found.count(200) <= 11, gateway.output()
    if 503 not in found:
        assert found.count(200) >= 10
        assert found[:10] == [200] * 10
    assert status == 429
    assert int(headers["retry-after"]) >= 1
    assert headers["ratelimit-policy"] == '"default";q=10;w=600'
    assert headers["ratelimit"].startswith('"default";r=0;t=')
    error = json.loads(body)
    assert 'policy "default"' in error["reason"]
    assert error["owner"] == "shop"  # the team that owns the route


def test_two_workers_with_leases_stay_within_the_stated_bound(
    tmp_path: Path, upstreams: Upstreams, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of 64 is used through leases of 2 (leases.py). From a fresh bucket the two workers
    together admit at most the burst (every admission is taken from Redis first), and at least the
    burst less the two leases they may still hold: docs/protection.md's bound with N = 2, R = 1.

    ``deny``: a Redis call that misses its 50 ms deadline on a busy test machine then refuses (503)
    instead of admitting uncounted, so the upper bound holds whatever the machine does; the lower one
    is asserted when no call failed (a failure drops the leases: fewer admitted, never more)."""
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        rate_limits=(
            "{store: redis, on_store_failure: deny, "
            "default: {requests: 64, per: 24h, burst: 64, key: client}}"
        ),
        secrets={"redis-url": "env:TEST_REDIS_URL"},
    )
    gateway = serve(tmp_path, spec, "--workers", "2")
    found: list[int] = []
    try:
        with ThreadPoolExecutor(8) as pool:  # concurrent: one worker's turn answers several at once
            for _ in range(20):  # batches until the bucket refuses (a store failure refuses for a while)
                found += pool.map(lambda _: request(spec.port, "GET", "/shop/x", timeout=5)[0], range(40))
                if 429 in found:
                    break
    finally:
        gateway.stop()
    assert set(found) <= {200, 429, 503}
    assert 429 in found, gateway.output()
    assert found.count(200) <= 64, gateway.output()
    if 503 not in found:
        assert found.count(200) >= 64 - 2 * 2, gateway.output()


def test_a_local_limit_is_divided_among_the_workers(tmp_path: Path, upstreams: Upstreams) -> None:
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)], rate_limits=f"{{store: local, default: {LIMIT}}}"
    )
    gateway = serve(tmp_path, spec, "--workers", "2")
    try:
        found = statuses_on_one_connection(spec.port, 20)
    finally:
        gateway.stop()
    output = gateway.output()
    assert found == [200] * 5 + [429] * 15  # one worker: half the limit of 10
    notes = [line for line in output.splitlines() if "store: local with 2 workers" in line]
    assert len(notes) == 1, output  # said once, by the parent, not once per worker
    assert "1/2" in notes[0]
    assert "10/10m burst 10 -> 5/10m burst 5" in notes[0]


def test_allowed_responses_carry_the_ratelimit_fields(tmp_path: Path, upstreams: Upstreams) -> None:
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        rate_limits="{default: {requests: 100, per: 1s, burst: 3}}",
    )
    gateway = serve(tmp_path, spec)
    try:
        status, headers, _ = request(spec.port, "GET", "/shop/x")
    finally:
        gateway.stop()
    assert status == 200
    assert headers["ratelimit-policy"] == '"default";q=100;w=1'
    assert headers["ratelimit"] == '"default";r=2;t=1'


# --- Redis going away --------------------------------------------------------------------------------


def test_redis_killed_mid_test_fails_open_then_limits_again(
    tmp_path: Path, upstreams: Upstreams, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        rate_limits="{store: redis, on_store_failure: allow, default: {requests: 3, per: 10m, burst: 3}}",
        secrets={"redis-url": "env:TEST_REDIS_URL"},
    )
    gateway = serve(tmp_path, spec)
    try:
        before = statuses_on_new_connections(spec.port, 5)
        redis_server.kill()
        during = [request(spec.port, "GET", "/shop/x", timeout=5) for _ in range(20)]
        redis_server.start()
        after: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and 429 not in after:
            after.append(request(spec.port, "GET", "/shop/x", timeout=5)[0])
            time.sleep(0.05)
    finally:
        gateway.stop()
    log = gateway.output()
    assert before == [200, 200, 200, 429, 429]
    assert [status for status, _, _ in during] == [200] * 20  # fail open: every request passes
    assert not any("ratelimit" in headers for _, headers, _ in during)  # nothing to tell while blind
    assert 429 in after  # Redis is back (empty): the limit applies again after three requests
    assert after.count(200) >= 3
    assert sum("unreachable" in line for line in log.splitlines()) == 1, log
    assert sum("reachable again" in line for line in log.splitlines()) == 1, log
    assert "Traceback" not in log


def test_a_hung_redis_with_deny_answers_503_then_recovers(
    tmp_path: Path, upstreams: Upstreams, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        rate_limits="{store: redis, on_store_failure: deny, default: {requests: 100, per: 1s}}",
        secrets={"redis-url": "env:TEST_REDIS_URL"},
    )
    gateway = serve(tmp_path, spec)
    try:
        assert request(spec.port, "GET", "/shop/x")[0] == 200
        redis_server.pause()  # accepts connections, answers nothing
        try:
            during = [request(spec.port, "GET", "/shop/x", timeout=5) for _ in range(10)]
        finally:
            redis_server.resume()
        recovered = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and 200 not in recovered:
            recovered.append(request(spec.port, "GET", "/shop/x", timeout=5)[0])
            time.sleep(0.05)
    finally:
        gateway.stop()
    # the worker first spends the lease it took before Redis hung (requests Redis counted): at most
    # lease_size(100) = 3 of them; then every request is refused
    statuses = [status for status, _, _ in during]
    spent = statuses.index(503)
    assert spent <= lease_size(100)
    assert statuses[spent:] == [503] * (10 - spent)
    refused = during[spent:]
    assert all(int(headers["retry-after"]) >= 1 for _, headers, _ in refused)
    assert "rate-limit store cannot be reached" in json.loads(refused[0][2])["reason"]
    assert recovered[-1] == 200


def test_serve_refuses_a_redis_store_without_its_url(tmp_path: Path, upstreams: Upstreams) -> None:
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        rate_limits="{store: redis, default: {requests: 1, per: 1s}}",
        secrets={"redis-url": "env:FRONTDOOR_TEST_UNSET_REDIS_URL"},
    )
    with pytest.raises(RuntimeError, match="FRONTDOOR_TEST_UNSET_REDIS_URL"):
        serve(tmp_path, spec)


# --- shedding and the circuit breaker ----------------------------------------------------------------


def test_beyond_max_inflight_requests_are_shed_at_once(tmp_path: Path, upstreams: Upstreams) -> None:
    port = upstreams.start("shop")
    state = upstreams.states[port]
    spec = ContractSpec(
        shop=[(port, 1)], upstream_timeout="10s", protection={"max_inflight_per_service": "2"}
    )
    gateway = serve(tmp_path, spec)
    slow: list[int] = []
    try:
        threads = [
            threading.Thread(
                target=lambda: slow.append(request(spec.port, "GET", "/shop/slow?delay_ms=2000")[0])
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum("slow" in s for s in state.seen) < 2:
            time.sleep(0.01)
        shed = request(spec.port, "GET", "/shop/fast", timeout=5)
        other = request(spec.port, "GET", "/other/x", timeout=5)  # another service has its own count
        for thread in threads:
            thread.join(10)
        after = request(spec.port, "GET", "/shop/fast", timeout=5)
    finally:
        gateway.stop()
    assert shed[0] == 503
    assert shed[1]["retry-after"] == "1"
    assert "in flight" in json.loads(shed[2])["reason"]
    assert other[0] == 502  # its upstream is down, but it was not shed
    assert slow == [200, 200]
    assert after[0] == 200
    assert state.seen.count("GET /shop/fast") == 1  # the shed request never reached the upstream


def test_every_way_a_request_ends_gives_its_place_back(tmp_path: Path, upstreams: Upstreams) -> None:
    port = upstreams.start("shop")
    spec = ContractSpec(shop=[(port, 1)], upstream_timeout="1s", protection={"max_inflight_per_service": "2"})
    gateway = serve(tmp_path, spec)
    try:
        ended = [
            request(spec.port, "GET", "/shop/x?close=1")[0],  # the upstream hangs up: 502
            request(spec.port, "GET", "/shop/x?delay_ms=3000")[0],  # too slow: 504
            request(spec.port, "GET", "/shop/x?status=500")[0],
            request(spec.port, "GET", "/shop/x?bytes=100000&chunked=1")[0],
        ]
        for _ in range(3):  # clients that go away (a reset) before the answer
            with socket.create_connection(("127.0.0.1", spec.port)) as sock:
                sock.sendall(b"GET /shop/x?delay_ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.5)  # their upstream answers arrive after they left
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(request(spec.port, "GET", "/shop/x?delay_ms=300")[0])
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        gateway.stop()
    assert ended == [502, 504, 500, 200]
    assert results == [200, 200]  # both places are free again
    assert [e["status"] for e in gateway.access_log()].count(499) == 3


def test_the_breaker_opens_on_failures_and_closes_after_a_probe(tmp_path: Path, upstreams: Upstreams) -> None:
    port = upstreams.start("shop")
    state = upstreams.states[port]
    spec = ContractSpec(
        shop=[(port, 1)],
        retries=1,
        protection={"circuit_breaker": "{failure_ratio: 0.5, min_requests: 4, open_for: 1s}"},
    )
    gateway = serve(tmp_path, spec)
    try:
        failing = [request(spec.port, "GET", "/shop/x?status=503")[0] for _ in range(4)]
        seen = len(state.seen)
        refused = [request(spec.port, "GET", "/shop/x", timeout=5) for _ in range(3)]
        untouched = len(state.seen) == seen
        time.sleep(1.2)  # open_for
        probe = request(spec.port, "GET", "/shop/x")[0]
        closed = [request(spec.port, "GET", "/shop/x")[0] for _ in range(3)]
    finally:
        gateway.stop()
    assert failing == [503] * 4  # the upstream's own 503s
    assert [status for status, _, _ in refused] == [503] * 3
    assert all("circuit is open" in json.loads(body)["reason"] for _, _, body in refused)
    assert all(int(headers["retry-after"]) >= 1 for _, headers, _ in refused)
    assert untouched  # an open circuit never reaches the upstream
    assert probe == 200
    assert closed == [200] * 3
    denied = [e for e in gateway.access_log() if e.get("denied_by")]
    assert len(denied) == 3 and all(e["denied_by"].startswith("circuit-breaker") for e in denied)


def test_an_unreachable_upstream_opens_the_breaker_too(tmp_path: Path, upstreams: Upstreams) -> None:
    spec = ContractSpec(
        shop=[(free_port(), 1)],  # nothing listens: the gateway answers 502 itself
        retries=1,
        protection={"circuit_breaker": "{failure_ratio: 0.5, min_requests: 3, open_for: 60s}"},
    )
    gateway = serve(tmp_path, spec, "--health-interval", "0")
    try:
        found = [request(spec.port, "GET", "/shop/x", timeout=5)[0] for _ in range(5)]
    finally:
        gateway.stop()
    assert found == [502, 502, 502, 503, 503]
    assert [e["denied_by"] is not None for e in gateway.access_log()] == [False] * 3 + [True] * 2


def test_the_retry_budget_stops_retries_from_multiplying_an_outage(tmp_path: Path) -> None:
    # two endpoints, neither listening: each request would try both; the budget allows the minimum
    # (10 retries per window) and 20% of requests beyond it
    spec = ContractSpec(shop=[(free_port(), 1), (free_port(), 1)], retries=2)
    gateway = serve(tmp_path, spec, "--health-interval", "0")
    try:
        found = [request(spec.port, "GET", "/shop/x", timeout=5)[0] for _ in range(40)]
    finally:
        gateway.stop()
    assert set(found) == {502}
    attempts = [e["attempts"] for e in gateway.access_log()]
    assert len(attempts) == 40
    retried = attempts.count(2)
    assert 10 <= retried <= 18
    assert attempts.count(1) == 40 - retried
