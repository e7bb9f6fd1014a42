"""The gateway end to end: a real `frontdoor serve` process, real upstreams, real sockets."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    FRONTDOOR_PYTHON,
    ContractSpec,
    Gateway,
    Upstreams,
    free_port,
    raw_exchange,
    request,
    statuses,
)


@pytest.fixture(scope="module")
def gateway(upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 3), (upstreams.start("shop"), 1)], other=[upstreams.start("other")]
    )
    root = tmp_path_factory.mktemp("e2e")
    running = Gateway(spec.write(root / "contract"), spec, root / "access.log")
    yield running
    running.stop()


def echo(body: bytes) -> dict[str, object]:
    return json.loads(body)  # type: ignore[no-any-return]


def test_public_route_is_proxied_with_forwarding_headers(gateway: Gateway) -> None:
    status, headers, body = request(gateway.spec.port, "GET", "/shop/items?color=red", {"Host": "shop.test"})
    seen = echo(body)
    assert status == 200 and seen["service"] == "shop"
    assert seen["path"] == "/shop/items?color=red"
    forwarded = seen["headers"]
    assert isinstance(forwarded, dict)
    assert forwarded["x-forwarded-for"] == "127.0.0.1"
    assert forwarded["x-forwarded-proto"] == "http"
    assert forwarded["x-forwarded-host"] == "shop.test"
    assert forwarded["host"] == "shop.test"
    assert forwarded["x-request-id"] == headers["x-request-id"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", forwarded["traceparent"])
    assert headers["traceparent"] == forwarded["traceparent"]


def test_spoofed_and_hop_by_hop_headers_never_reach_the_upstream(gateway: Gateway) -> None:
    incoming_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    status, _headers, body = request(
        gateway.spec.port,
        "GET",
        "/shop",
        {
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=6.6.6.6",
            "X-Request-Id": "client-chosen",
            "X-Frontdoor-Subject": "admin",
            "X-Frontdoor-Anything": "x",
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "secret",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "TE": "trailers",
            "traceparent": incoming_trace,
        },
    )
    seen = echo(body)
    names = seen["header_names"]
    assert status == 200 and isinstance(names, list)
    for banned in (
        "x-frontdoor-subject",
        "x-frontdoor-anything",
        "x-private-hop",
        "keep-alive",
        "proxy-authorization",
        "te",
        "forwarded",
        "connection",
    ):
        assert banned not in names, banned
    forwarded = seen["headers"]
    assert isinstance(forwarded, dict)
    assert forwarded["x-forwarded-for"] == "127.0.0.1"  # the client is not a trusted proxy
    assert forwarded["x-forwarded-proto"] == "http"
    assert forwarded["x-request-id"] != "client-chosen"
    # the trace is continued: same trace id, a new span
    assert forwarded["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert forwarded["traceparent"].split("-")[2] != "b7ad6b7169203331"


def test_gateway_errors_are_json_with_request_id_and_owner(gateway: Gateway) -> None:
    status, headers, body = request(gateway.spec.port, "GET", "/nowhere")
    error = json.loads(body)
    assert status == 404 and headers["content-type"] == "application/json"
    assert (
        error["status"] == 404 and error["request_id"] == headers["x-request-id"] and error["owner"] == "edge"
    )
    status, headers, body = request(gateway.spec.port, "POST", "/exact")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, _, body = request(gateway.spec.port, "GET", "/private/1")
    assert status == 401 and json.loads(body)["owner"] == "shop"
    for path in ("/shop/../../etc/passwd", "/shop/%2e%2e/%2e%2e/x", "/shop%2Fitems"):
        raw = raw_exchange(gateway.spec.port, f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        assert statuses(raw) == [400], path
    assert b"Traceback" not in raw


def test_routing_exact_prefix_and_strip_prefix(gateway: Gateway) -> None:
    assert echo(request(gateway.spec.port, "GET", "/exact")[2])["path"] == "/exact"
    assert request(gateway.spec.port, "GET", "/exact/more")[0] == 404
    assert request(gateway.spec.port, "GET", "/shopx")[0] == 404  # segment boundaries only
    assert echo(request(gateway.spec.port, "GET", "/strip/a/b?q=1")[2])["path"] == "/a/b?q=1"
    assert echo(request(gateway.spec.port, "GET", "/other/%7Euser")[2])["path"] == "/other/~user"


def test_keep_alive_and_pipelining_answer_in_order(gateway: Gateway) -> None:
    pipelined = (
        b"".join(f"GET /other/{i} HTTP/1.1\r\nHost: h\r\n\r\n".encode() for i in range(5))
        + b"GET /other/last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    raw = raw_exchange(gateway.spec.port, pipelined)
    assert statuses(raw) == [200] * 6
    paths = re.findall(rb'"path": "(/other/[^"]+)"', raw)
    assert paths == [b"/other/0", b"/other/1", b"/other/2", b"/other/3", b"/other/4", b"/other/last"]


def test_a_pipelined_requests_trailers_never_reach_the_upstream_as_headers(gateway: Gateway) -> None:
    """A chunked request read while the one before it is answered waits with its head; its trailer
    section (read meanwhile) must not join that head's fields, nor change its Host, when it goes up."""
    pipelined = (
        b"GET /other/first HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /other/second HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Smuggled: t\r\nHost: evil\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.spec.port), timeout=30) as sock:
        sock.sendall(pipelined)
        raw = b""
        while chunk := sock.recv(65536):  # to the end: the second request asked to close
            raw += chunk
    assert statuses(raw) == [200, 200]
    bodies = [json.loads(body) for body in re.findall(rb"\r\n\r\n(\{.*?\})(?=HTTP/1\.1 |$)", raw, re.S)]
    assert [body["path"] for body in bodies] == ["/other/first", "/other/second"]
    second = bodies[1]
    assert "x-smuggled" not in second["header_names"]
    headers = second["headers"]
    assert isinstance(headers, dict) and headers["host"] == "h"


def test_upstream_connections_are_reused(gateway: Gateway, upstreams: Upstreams) -> None:
    port = next(iter(gateway.spec.other))
    state = upstreams.states[port]
    for _ in range(3):
        request(gateway.spec.port, "GET", "/other/warm")
    before = state.connections
    for _ in range(20):
        assert request(gateway.spec.port, "GET", "/other/again")[0] == 200
    assert state.connections == before  # every request rode an idle pooled connection


def test_weights_split_traffic(gateway: Gateway, upstreams: Upstreams) -> None:
    (heavy, _), (light, _) = gateway.spec.shop
    before = {p: len(upstreams.states[p].seen) for p in (heavy, light)}
    for _ in range(40):
        assert request(gateway.spec.port, "GET", "/shop/w")[0] == 200
    counts = {p: len(upstreams.states[p].seen) - before[p] for p in (heavy, light)}
    assert counts == {heavy: 30, light: 10}  # smooth weighted round-robin is exact over a full cycle


def test_large_upload_streams_and_arrives_intact(gateway: Gateway) -> None:
    payload = os.urandom(24 * 1024 * 1024)
    status, _, body = request(gateway.spec.port, "PUT", "/other/upload", body=payload, timeout=60)
    seen = echo(body)
    assert status == 200
    assert seen["body_bytes"] == len(payload)
    assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()


def test_chunked_upload_and_chunked_download(gateway: Gateway) -> None:
    chunks = [os.urandom(size) for size in (1, 1000, 70000, 5)]
    wire = b"".join(b"%x\r\n%b\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    raw = raw_exchange(
        gateway.spec.port,
        b"POST /other/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + wire,
    )
    body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert body["body_sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    status, headers, data = request(gateway.spec.port, "GET", "/other/d?bytes=5000000&chunked=1", timeout=30)
    assert status == 200 and len(data) == 5_000_000 and headers.get("transfer-encoding") == "chunked"


def test_head_204_and_expect_continue(gateway: Gateway) -> None:
    status, headers, body = request(gateway.spec.port, "HEAD", "/other/h")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    status, headers, body = request(gateway.spec.port, "GET", "/other/n?status=204")
    assert status == 204 and body == b""
    raw = raw_exchange(
        gateway.spec.port,
        b"PUT /other/e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
        b"Content-Length: 4\r\nConnection: close\r\n\r\nbody",
    )
    assert statuses(raw)[0] == 100 and statuses(raw)[-1] == 200
    assert b'"body_bytes": 4' in raw


SMUGGLING = [
    b"POST /other/a HTTP/1.1\r\nHost: h\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    b"GET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /other/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
    b"0\r\n\r\nGET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /other/a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n"
    b"GET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /other/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
    b"GET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /other/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"
    b"GET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /other/a HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\nGET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /other/a HTTP/1.1\nHost: h\n\nGET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /other/a HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    b"GET /other/smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
]


@pytest.mark.parametrize("vector", SMUGGLING, ids=range(len(SMUGGLING)))
def test_smuggling_vectors_are_refused_and_nothing_follows(
    gateway: Gateway, upstreams: Upstreams, vector: bytes
) -> None:
    port = next(iter(gateway.spec.other))
    seen_before = list(upstreams.states[port].seen)
    raw = raw_exchange(gateway.spec.port, vector)
    assert statuses(raw) == [400], raw[:200]
    assert b"connection: close" in raw.lower()
    time.sleep(0.1)
    new = upstreams.states[port].seen[len(seen_before) :]
    assert not any("smuggled" in line for line in new)


def test_limits_give_413_431_and_408(gateway: Gateway, tmp_path: Path) -> None:
    raw = raw_exchange(
        gateway.spec.port, b"GET /other HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    )
    assert statuses(raw) == [431]
    with socket.create_connection(("127.0.0.1", gateway.spec.port), timeout=5) as sock:
        sock.sendall(b"GET /other HTTP/1.1\r\nHost: h\r\n")  # ...and never finishes the head
        data = sock.recv(4096)
        assert statuses(data) == [408]
        assert sock.recv(4096) == b""  # closed after the timeout


@pytest.fixture
def fresh_gateway(upstreams: Upstreams, tmp_path: Path) -> Iterator[tuple[ContractSpec, Path, list[Gateway]]]:
    """A gateway per test, for tests that break upstreams or signal the process."""
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")])
    started: list[Gateway] = []
    yield spec, tmp_path, started
    for running in started:
        running.stop()


def test_upstream_failures_give_502_and_504(
    fresh_gateway: tuple[ContractSpec, Path, list[Gateway]], upstreams: Upstreams
) -> None:
    spec, root, started = fresh_gateway
    spec.upstream_timeout = "500ms"
    dead = free_port()
    spec.shop = [(dead, 1)]
    running = Gateway(spec.write(root / "c"), spec, root / "log")
    started.append(running)
    status, _, body = request(spec.port, "GET", "/shop/x")
    assert status == 502 and json.loads(body)["owner"] == "shop"
    status, _, _ = request(spec.port, "GET", "/other/slow?delay_ms=1500")
    assert status == 504
    status, _, _ = request(spec.port, "GET", "/other/gone?close=1")
    assert status == 502
    assert b"Traceback" not in running.log.read_bytes()


def test_retry_moves_idempotent_requests_to_a_live_endpoint(
    fresh_gateway: tuple[ContractSpec, Path, list[Gateway]], upstreams: Upstreams
) -> None:
    spec, root, started = fresh_gateway
    live = spec.shop[0][0]
    spec.shop = [(free_port(), 1), (live, 1)]
    running = Gateway(spec.write(root / "c"), spec, root / "log")
    started.append(running)
    results = Counter(request(spec.port, "GET", f"/shop/{i}")[0] for i in range(10))
    assert results == {200: 10}
    # POST is not idempotent: never retried, so one of the first two requests meets the dead endpoint
    posts = Counter(request(spec.port, "POST", "/shop/p", body=b"x")[0] for _ in range(2))
    assert set(posts) <= {200, 502}


def test_sigterm_drains_in_flight_requests(fresh_gateway: tuple[ContractSpec, Path, list[Gateway]]) -> None:
    spec, root, started = fresh_gateway
    running = Gateway(spec.write(root / "c"), spec, root / "log")
    started.append(running)
    result: dict[str, int] = {}

    def slow() -> None:
        result["status"] = request(spec.port, "GET", "/other/slow?delay_ms=800")[0]

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.3)
    running.signal(signal.SIGTERM)
    worker.join(10)
    assert result == {"status": 200}
    assert running.process.wait(10) == 0
    with pytest.raises(OSError):
        request(spec.port, "GET", "/other/x", timeout=1)


def test_sighup_reload_keeps_old_plan_on_bad_contract(
    fresh_gateway: tuple[ContractSpec, Path, list[Gateway]],
) -> None:
    spec, root, started = fresh_gateway
    contract = spec.write(root / "c")
    running = Gateway(contract, spec, root / "log")
    started.append(running)
    services = contract / "services.yaml"
    original = services.read_text()
    services.write_text(original.replace("access: public}", "access: publik}", 1))
    running.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert request(spec.port, "GET", "/shop/still-here")[0] == 200
    services.write_text(
        original.replace(
            "{path: /other, access: public}",
            "{path: /other, access: public}\n    - {path: /added, access: public}",
        )
    )
    running.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while request(spec.port, "GET", "/added/1")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert request(spec.port, "GET", "/added/1")[0] == 200


def test_admin_probes_and_access_log(gateway: Gateway) -> None:
    assert gateway.admin("/healthz")[0] == 200
    status, body = gateway.admin("/readyz")
    assert status == 200 and json.loads(body)["ready"] is True
    assert gateway.admin("/nope")[0] == 404
    request(gateway.spec.port, "GET", "/other/logged", {"Authorization": "Bearer sekrit"})
    deadline = time.monotonic() + 5  # the log is written in batches, a few times a second
    while (
        not any(e.get("path") == "/other/logged" for e in gateway.access_log())
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    entry = next(e for e in reversed(gateway.access_log()) if e.get("path") == "/other/logged")
    assert entry["status"] == 200 and entry["service"] == "other" and entry["owner"] == "shop"
    assert "sekrit" not in gateway.log.read_text()


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_websocket_is_tunnelled_after_101(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.spec.port), timeout=5) as sock:
        sock.sendall(
            b"GET /other/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = _read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"upgrade: websocket" in head.lower()
        frame = b"\x81\x85\x37\xfa\x21\x3d" + bytes(
            b ^ m for b, m in zip(b"Hello", b"\x37\xfa\x21\x3d\x37", strict=True)
        )
        for _ in range(3):  # frames both ways, as many as the tunnel lives
            sock.sendall(frame)
            echoed = b""
            while len(echoed) < len(frame):
                echoed += sock.recv(4096)
            assert echoed == frame


def test_other_upgrades_are_not_forwarded(gateway: Gateway) -> None:
    raw = raw_exchange(
        gateway.spec.port,
        b"GET /other/h2c HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n"
        b"Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
        b"GET /other/next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    assert statuses(raw) == [200, 200]
    first = json.loads(raw.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1", 1)[0])
    assert "upgrade" not in first["header_names"] and "http2-settings" not in first["header_names"]


def test_active_health_checks_take_an_endpoint_out_and_back(
    fresh_gateway: tuple[ContractSpec, Path, list[Gateway]], upstreams: Upstreams
) -> None:
    spec, root, started = fresh_gateway
    sick = upstreams.start("shop")
    well = spec.shop[0][0]
    spec.shop = [(well, 1), (sick, 1)]
    running = Gateway(spec.write(root / "c"), spec, root / "log", "--health-interval", "0.1")
    started.append(running)
    seen = upstreams.states[sick].seen

    def traffic_to_sick(requests: int) -> int:
        before = len(seen)
        for _ in range(requests):
            assert request(spec.port, "GET", "/shop/h")[0] == 200
        return sum(1 for line in seen[before:] if not line.startswith("GET /readyz"))

    upstreams.states[sick].ready = False
    deadline = time.monotonic() + 15
    while traffic_to_sick(10) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert traffic_to_sick(10) == 0  # out of the rotation: it only gets probes
    upstreams.states[sick].ready = True
    deadline = time.monotonic() + 15
    while not traffic_to_sick(10) and time.monotonic() < deadline:
        time.sleep(0.1)
    # back, weight for weight (give or take one: a probe may land while the ten are sent)
    assert 4 <= traffic_to_sick(10) <= 6


def test_several_workers_share_the_listener(fresh_gateway: tuple[ContractSpec, Path, list[Gateway]]) -> None:
    spec, root, started = fresh_gateway
    running = Gateway(spec.write(root / "c"), spec, root / "log", "--workers", "2")
    started.append(running)
    assert Counter(request(spec.port, "GET", f"/other/{i}")[0] for i in range(20)) == {200: 20}
    assert running.stop() == 0


def test_an_invalid_contract_is_refused_before_serving(tmp_path: Path) -> None:
    import subprocess

    spec = ContractSpec(shop=[(free_port(), 1)])
    contract = spec.write(tmp_path / "c")
    (contract / "services.yaml").write_text(
        (contract / "services.yaml").read_text().replace("public}", "publik}")
    )
    done = subprocess.run(
        [FRONTDOOR_PYTHON, "-m", "frontdoor", "serve", str(contract), "--env", "dev"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "services.yaml" in done.stderr and "Traceback" not in done.stderr


def test_a_trusted_proxy_keeps_its_forwarding_headers_and_request_id(
    fresh_gateway: tuple[ContractSpec, Path, list[Gateway]],
) -> None:
    spec, root, started = fresh_gateway
    spec.trusted_proxies = "[127.0.0.0/8]"
    running = Gateway(spec.write(root / "c"), spec, root / "log")
    started.append(running)
    status, headers, body = request(
        spec.port,
        "GET",
        "/other/t",
        {
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "X-Request-Id": "edge-lb-42",
            "X-Frontdoor-Subject": "still-removed",
        },
    )
    forwarded = echo(body)["headers"]
    assert status == 200 and isinstance(forwarded, dict)
    assert forwarded["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert forwarded["x-forwarded-proto"] == "https"
    assert forwarded["x-request-id"] == headers["x-request-id"] == "edge-lb-42"
    assert "x-frontdoor-subject" not in echo(body)["header_names"]  # type: ignore[operator]


def test_random_bytes_never_take_the_gateway_down(gateway: Gateway) -> None:
    import random

    generator = random.Random(7)
    for _ in range(60):
        blob = bytes(generator.getrandbits(8) for _ in range(generator.randrange(1, 400)))
        prefix = generator.choice([b"", b"GET / HTTP/1.1\r\n", b"POST /other HTTP/1.1\r\nHost: h\r\n"])
        raw = raw_exchange(gateway.spec.port, prefix + blob, timeout=2, linger=0.05)
        assert all(400 <= s < 600 or s == 200 for s in statuses(raw))
    assert gateway.admin("/readyz")[0] == 200
    assert request(gateway.spec.port, "GET", "/other/alive")[0] == 200


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_half_gigabyte_upload_streams_with_bounded_memory(
    fresh_gateway: tuple[ContractSpec, Path, list[Gateway]],
) -> None:
    spec, root, started = fresh_gateway
    spec.max_request_body = "2GiB"
    spec.upstream_timeout = "60s"
    running = Gateway(spec.write(root / "c"), spec, root / "log")
    started.append(running)
    size = 512 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", spec.port), timeout=60) as sock:
        sock.sendall(
            b"PUT /other/big HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % size
        )
        for _ in range(size // len(block)):
            sock.sendall(block)
            digest.update(block)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    seen = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert seen["body_bytes"] == size and seen["body_sha256"] == digest.hexdigest()
    assert _peak_rss_kib(running.process.pid) < 150 * 1024  # backpressure, not buffering: far below 512 MiB


def test_a_chunked_body_that_outgrows_the_limit_gets_413_at_once(
    fresh_gateway: tuple[ContractSpec, Path, list[Gateway]],
) -> None:
    spec, root, started = fresh_gateway
    spec.max_request_body = "64KiB"
    running = Gateway(spec.write(root / "c"), spec, root / "log")
    started.append(running)
    with socket.create_connection(("127.0.0.1", spec.port), timeout=10) as sock:
        sock.sendall(b"POST /other/grow HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"a" * 16384
        for _ in range(6):  # 96 KiB, past the limit, and the body never ends
            sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert statuses(data) == [413]
    assert b"traceparent:" in data


def test_a_port_in_use_is_a_clear_error(fresh_gateway: tuple[ContractSpec, Path, list[Gateway]]) -> None:
    import subprocess

    spec, root, _ = fresh_gateway
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", spec.port))
        holder.listen()
        done = subprocess.run(
            [FRONTDOOR_PYTHON, "-m", "frontdoor", "serve", str(spec.write(root / "c")), "--env", "dev"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{spec.port}" in done.stderr and "Traceback" not in done.stderr
