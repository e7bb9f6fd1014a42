"""The body timeouts end to end, over real sockets: ``timeouts.body`` between two reads of a request
body (a client that stalls gets 408, one that trickles faster is never cut), and ``timeouts.upstream``
between two reads of a response body (an upstream that stalls mid-body has its client cut off, the
line logged as ``body-stalled``), over HTTP/1.1 and on HTTP/2 streams. No timed assertion: each wait
is bounded by a socket timeout far longer than the timeouts under test."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from h2.errors import ErrorCodes
from prometheus_client.parser import text_string_to_metric_families

from frontdoor.contract.load import load_contract

from .conftest import edit
from .h2client import H2Client
from .harness import ContractSpec, Gateway, Upstreams, request, statuses
from .stall_support import RawUpstream, running_gateway, tls_files

BODY_TIMEOUT = "1500ms"
UPSTREAM_TIMEOUT = "1s"
FULL, SENT = 1000, 100  # the stalling upstream's announced body length, and what it sends of it
WAIT_S = 15.0  # the bound of every wait: far beyond the timeouts under test


class StallingUpstream(RawUpstream):
    """Answers every request with a head announcing FULL bytes and SENT of them, then sends nothing
    more; it counts the connections the gateway closed on it (``cut``). A path with ``trickle`` gets
    its FULL bytes instead, in ten parts 0.3 s apart (three times the upstream timeout in all)."""

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(60)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                if b"trickle" in head.partition(b"\r\n")[0]:
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % FULL)
                    for _ in range(10):
                        time.sleep(0.3)
                        conn.sendall(b"y" * (FULL // 10))
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (FULL, b"x" * SENT))
                while conn.recv(4096):  # until the gateway closes its side
                    pass
            except OSError:
                pass  # reset by the gateway: cut too
            self.cut.release()


@pytest.fixture(scope="module")
def stalling() -> Iterator[StallingUpstream]:
    server = StallingUpstream()
    yield server
    server.close()


def _spec(upstreams: Upstreams, stalling: StallingUpstream, **more: Any) -> ContractSpec:
    return ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[stalling.port],
        body_timeout=BODY_TIMEOUT,
        upstream_timeout=UPSTREAM_TIMEOUT,
        header_timeout="10s",
        retries=1,
        **more,
    )


@pytest.fixture(scope="module")
def gateway(
    upstreams: Upstreams, stalling: StallingUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("body-timeouts")
    yield from running_gateway(root, _spec(upstreams, stalling))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_gateway(
    upstreams: Upstreams,
    stalling: StallingUpstream,
    ca: trustme.CA,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("body-timeouts-h2")
    cert, key = tls_files(ca, root)
    yield from running_gateway(root, _spec(upstreams, stalling, tls=(cert, key, "1.2")))


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes or resets the connection; a socket timeout (the
    gateway never closed) fails the test."""
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def logged(gateway: Gateway, path: str) -> dict[str, Any]:
    """The access log line of the one request to ``path`` (lines are written in batches)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        lines = [line for line in gateway.access_log() if line["path"] == path]
        if lines:
            assert len(lines) == 1, lines
            return lines[0]
        time.sleep(0.1)
    raise AssertionError(f"no access log line for {path}")


def upstream_timeouts(gateway: Gateway) -> float:
    """frontdoor_upstream_errors_total{route="other.0", kind="timeout"}."""
    status, body = gateway.admin("/metrics", token="")
    assert status == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        if family.name == "frontdoor_upstream_errors"
        for sample in family.samples
        if sample.labels.get("route") == "other.0" and sample.labels.get("kind") == "timeout"
    )


# --- the request body: timeouts.body ------------------------------------------------------------------


def test_a_request_body_that_stalls_gets_408_and_the_connection_closes(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.spec.port), timeout=WAIT_S) as sock:
        sock.sendall(b"POST /shop/stalled HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
        received = read_until_closed(sock)  # ...and nothing more: the gateway answers, then closes
    assert statuses(received) == [408], received[:300]
    assert b"connection: close" in received.lower()
    assert b"the request body did not arrive in time" in received
    assert logged(gateway, "/shop/stalled")["status"] == 408
    # the abandoned upstream connection was not pooled: a request after it is answered whole
    status, _, body = request(gateway.spec.port, "POST", "/shop/after-stall", body=b"c" * 50)
    assert status == 200 and json.loads(body)["body_bytes"] == 50


def test_a_request_body_that_keeps_arriving_is_not_cut(gateway: Gateway) -> None:
    pieces, size = 10, 10  # 0.3 s apart: the whole body takes twice the body timeout, each gap a fifth

    def trickle() -> Iterator[bytes]:
        for _ in range(pieces):
            time.sleep(0.3)
            yield b"t" * size

    connection = http.client.HTTPConnection("127.0.0.1", gateway.spec.port, timeout=WAIT_S)
    try:
        connection.request(
            "POST", "/shop/trickled", body=trickle(), headers={"Content-Length": str(pieces * size)}
        )
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["body_bytes"] == pieces * size
    finally:
        connection.close()


def test_a_request_body_that_stalls_on_an_http2_stream_gets_408_on_that_stream(
    tls_gateway: Gateway, ca: trustme.CA
) -> None:
    client = H2Client(tls_gateway.spec.port, ca)
    try:
        stalled = client.conn.get_next_available_stream_id()
        client.conn.send_headers(stalled, client.fields("POST", "/shop/h2-stalled"))
        client.conn.send_data(stalled, b"a" * 10)  # part of a body, never ended
        client.flush()
        client.until(lambda: stalled in client.ended)
        assert client.answers[stalled].status == 408
        # the connection and its other streams go on
        assert client.request("GET", "/shop/h2-after").status == 200
    finally:
        client.close()


# --- the response body: timeouts.upstream between reads ----------------------------------------------


def test_a_response_body_that_stalls_cuts_the_client_off(
    gateway: Gateway, stalling: StallingUpstream
) -> None:
    before = upstream_timeouts(gateway)
    with socket.create_connection(("127.0.0.1", gateway.spec.port), timeout=WAIT_S) as sock:
        sock.sendall(b"GET /other/stalls HTTP/1.1\r\nHost: h\r\n\r\n")
        received = read_until_closed(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: %d" % FULL in head.lower()
    assert body == b"x" * SENT  # truncated: the client can tell
    assert stalling.cut.acquire(timeout=WAIT_S)  # the upstream connection was dropped, not pooled
    line = logged(gateway, "/other/stalls")
    assert line["status"] == 200 and line["upstream_failure"] == "body-stalled"
    deadline = time.monotonic() + WAIT_S  # the metrics are gathered once a second
    while upstream_timeouts(gateway) == before:
        assert time.monotonic() < deadline, "the stall was not counted as an upstream timeout"
        time.sleep(0.2)
    # the gateway goes on serving
    status, _, _ = request(gateway.spec.port, "GET", "/shop/after-stall")
    assert status == 200


def test_a_response_body_that_keeps_arriving_is_not_cut(gateway: Gateway) -> None:
    status, _, body = request(gateway.spec.port, "GET", "/other/trickle", timeout=WAIT_S)
    assert status == 200 and body == b"y" * FULL
    assert logged(gateway, "/other/trickle")["upstream_failure"] is None


def test_a_response_body_that_stalls_resets_only_its_http2_stream(
    tls_gateway: Gateway, ca: trustme.CA, stalling: StallingUpstream
) -> None:
    client = H2Client(tls_gateway.spec.port, ca)
    try:
        stalled = client.start("GET", "/other/h2-stalls")
        client.until(lambda: stalled in client.ended)
        answer = client.answers[stalled]
        assert answer.status == 200 and answer.body == b"x" * SENT
        assert answer.reset == ErrorCodes.INTERNAL_ERROR
        assert stalling.cut.acquire(timeout=WAIT_S)
        assert logged(tls_gateway, "/other/h2-stalls")["upstream_failure"] == "body-stalled"
        assert client.request("GET", "/shop/h2-fine").status == 200  # the same connection
    finally:
        client.close()


# --- the contract -------------------------------------------------------------------------------------


def test_a_body_timeout_of_zero_is_refused(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "edges/public.yaml",
        "timeouts: {connect: 2s, header: 10s, upstream: 30s, idle: 60s}",
        "timeouts: {connect: 2s, header: 10s, upstream: 30s, idle: 60s, body: 0s}",
    )
    result = load_contract(shop_copy)
    assert not result.valid
    assert any("a timeout must be longer than 0s" in f.message for f in result.findings), result.findings
