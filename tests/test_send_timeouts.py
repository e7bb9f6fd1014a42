"""The send timeouts end to end, over real sockets: ``timeouts.idle`` bounds how long a client may take
none of its response while the gateway's buffer to it is full (nginx's ``send_timeout``: cut off, its
upstream connection dropped, logged ``client-stalled`` and counted), and ``timeouts.upstream`` how long
an upstream may take none of the request body while the buffer to it is full (nginx's
``proxy_send_timeout``: 504, logged ``send-stalled``). A reader that is slow but steady is never cut,
either way; over HTTP/1.1 and on an HTTP/2 stream. No timed assertion: each wait is bounded by a socket
timeout far longer than the timeouts under test."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from h2.errors import ErrorCodes
from prometheus_client.parser import text_string_to_metric_families

from .h2client import H2Client
from .harness import ContractSpec, Gateway, Upstreams, request, statuses
from .stall_support import RawUpstream, running_gateway, tls_files

IDLE_TIMEOUT = "400ms"
UPSTREAM_TIMEOUT = "1s"
BIG = 64 * 1024 * 1024  # far more than the kernel's buffers hold (on loopback, a few MB each way)
# What a steady reader reads, several times the kernel's buffers, so that the gateway's own buffer fills
# and empties many times over several timeouts. Its pace, 12 MB/s, drains the buffers of the gateway's
# socket (the kernel lets the gateway write again once about half of them are sent) well within a
# timeout: as with nginx's send_timeout, what is timed is the wait between two writes that moved data.
STEADY = 32 * 1024 * 1024
SIP, SIP_EVERY_S = 256 * 1024, 0.02
WAIT_S = 30.0  # the bound of every wait: far beyond the timeouts under test


class SlowUpstream(RawUpstream):
    """An upstream on raw sockets, by path: ``/other/big/N`` answers N bytes (releasing ``cut`` when
    the gateway drops the connection before they are all sent); ``/other/sink`` reads the head and never
    the body (releasing ``cut`` once the gateway closes the connection); ``/other/sip`` reads its body
    SIP bytes at a time, SIP_EVERY_S apart, and answers how much it read."""

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(WAIT_S)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    data = conn.recv(1024)
                    if not data:
                        return
                    head += data
                head, _, body = head.partition(b"\r\n\r\n")
                target = head.split(b" ")[1]
                if target.startswith(b"/other/big/"):
                    self._big(conn, int(target.rsplit(b"/", 1)[1]))
                elif target.startswith(b"/other/sink"):
                    self._sink(conn)
                elif target.startswith(b"/other/sip"):
                    length = int(head.lower().partition(b"content-length: ")[2].partition(b"\r\n")[0])
                    self._sip(conn, length - len(body))
            except OSError:
                pass

    def _big(self, conn: socket.socket, size: int) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        piece = b"x" * 65536
        try:
            for start in range(0, size, len(piece)):
                conn.sendall(piece[: size - start])
        except OSError:
            self.cut.release()  # the gateway dropped the connection before the end

    def _sink(self, conn: socket.socket) -> None:
        poller = select.poll()
        poller.register(conn, select.POLLRDHUP)  # POLLHUP and POLLERR are always reported
        if poller.poll(WAIT_S * 1000):
            self.cut.release()

    def _sip(self, conn: socket.socket, left: int) -> None:
        while left > 0:
            time.sleep(SIP_EVERY_S)
            sip = min(SIP, left)
            while sip > 0:
                data = conn.recv(sip)
                if not data:
                    return
                sip -= len(data)
                left -= len(data)
        answer = json.dumps({"read": "all"}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(answer), answer))


@pytest.fixture(scope="module")
def slow() -> Iterator[SlowUpstream]:
    server = SlowUpstream()
    yield server
    server.close()


def _spec(upstreams: Upstreams, slow: SlowUpstream, **more: Any) -> ContractSpec:
    return ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[slow.port],
        idle_timeout=IDLE_TIMEOUT,
        upstream_timeout=UPSTREAM_TIMEOUT,
        header_timeout="10s",
        retries=1,
        **more,
    )


@pytest.fixture(scope="module")
def gateway(
    upstreams: Upstreams, slow: SlowUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("send-timeouts")
    yield from running_gateway(root, _spec(upstreams, slow))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_gateway(
    upstreams: Upstreams,
    slow: SlowUpstream,
    ca: trustme.CA,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("send-timeouts-h2")
    cert, key = tls_files(ca, root)
    yield from running_gateway(root, _spec(upstreams, slow, tls=(cert, key, "1.2")))


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)


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


def stalls_counted(gateway: Gateway) -> float:
    """frontdoor_protection_events_total{event="client_stalled", service="other"}."""
    status, body = gateway.admin("/metrics", token="")
    assert status == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        if family.name == "frontdoor_protection_events"
        for sample in family.samples
        if sample.labels.get("event") == "client_stalled" and sample.labels.get("service") == "other"
    )


def wait_counted(gateway: Gateway, before: float) -> None:
    deadline = time.monotonic() + WAIT_S  # the metrics are gathered once a second
    while stalls_counted(gateway) == before:
        assert time.monotonic() < deadline, "the stalled client was not counted"
        time.sleep(0.2)


# --- a client that stops reading its response: timeouts.idle -------------------------------------------


def test_a_client_that_stops_reading_is_cut_off_and_its_upstream_dropped(
    gateway: Gateway, slow: SlowUpstream
) -> None:
    before = stalls_counted(gateway)
    with connect(gateway.spec.port) as sock:
        sock.sendall(b"GET /other/big/%d HTTP/1.1\r\nHost: h\r\n\r\n" % BIG)
        # nothing read: the gateway's buffer to this client fills, and it gives up on the upstream
        assert slow.cut.acquire(timeout=WAIT_S), "the upstream connection was not dropped"
        # ...while it serves others
        assert request(gateway.spec.port, "GET", "/shop/meanwhile")[0] == 200
        received = read_until_closed(sock)  # what the kernel held, then the end of the connection
    assert received.startswith(b"HTTP/1.1 200 ")
    assert len(received) < BIG  # cut off: the client can tell
    line = logged(gateway, f"/other/big/{BIG}")
    assert line["status"] == 200 and line["upstream_failure"] == "client-stalled"
    wait_counted(gateway, before)


def test_a_client_that_reads_slowly_but_steadily_is_not_cut(gateway: Gateway) -> None:
    with connect(gateway.spec.port) as sock:
        sock.sendall(b"GET /other/big/%d HTTP/1.1\r\nHost: h\r\n\r\n" % STEADY)
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(1)
            assert data, "the gateway closed the connection"
            head += data
        body = b""
        while len(body) < STEADY:
            time.sleep(SIP_EVERY_S)  # the gateway's buffer fills between two reads
            sip = len(body) + min(SIP, STEADY - len(body))
            while len(body) < sip:
                data = sock.recv(sip - len(body))
                assert data, "the gateway closed the connection"
                body += data
    assert statuses(head) == [200]
    assert body == b"x" * STEADY
    assert logged(gateway, f"/other/big/{STEADY}")["upstream_failure"] is None


def test_a_client_that_stops_reading_an_http2_stream_gets_it_reset(
    tls_gateway: Gateway, ca: trustme.CA, slow: SlowUpstream
) -> None:
    client = H2Client(tls_gateway.spec.port, ca, read_body=False)  # no stream's window is given back
    try:
        client.conn.increment_flow_control_window(BIG)  # the connection's window: plenty
        client.flush()
        stalled = client.start("GET", f"/other/big/{BIG // 2}")
        client.until(lambda: stalled in client.ended)
        answer = client.answers[stalled]
        assert answer.status == 200 and answer.reset == ErrorCodes.INTERNAL_ERROR
        assert len(answer.body) < BIG // 2
        assert slow.cut.acquire(timeout=WAIT_S), "the upstream connection was not dropped"
        assert logged(tls_gateway, f"/other/big/{BIG // 2}")["upstream_failure"] == "client-stalled"
        client.read_body = True  # the same connection goes on, for a client that reads
        assert client.request("GET", "/shop/h2-after").status == 200
    finally:
        client.close()


def test_a_stream_blocked_on_the_connections_window_is_reset_and_the_connection_goes_on(
    tls_gateway: Gateway, ca: trustme.CA, slow: SlowUpstream
) -> None:
    # streams may take 16 MiB each, but the connection's window (65,535 bytes) is never given back
    client = H2Client(tls_gateway.spec.port, ca, window=BIG // 4, read_body=False)
    try:
        stalled = client.start("GET", f"/other/big/{BIG // 4}")
        client.until(lambda: stalled in client.ended)
        answer = client.answers[stalled]
        assert answer.status == 200 and answer.reset == ErrorCodes.INTERNAL_ERROR
        assert len(answer.body) < BIG // 4
        assert slow.cut.acquire(timeout=WAIT_S), "the upstream connection was not dropped"
        # the client gives the connection's window back: the same connection serves the next stream
        client.conn.increment_flow_control_window(len(answer.body))
        client.read_body = True
        assert client.request("GET", "/shop/h2-after-window").status == 200
    finally:
        client.close()


# a response larger than a stream's window (65,535 bytes, the client's default) by less than what pauses
# the upstream (64 KiB waiting, proxy/h2stream.py): the upstream sends all of it and the exchange ends
WINDOWED = 100_000


def test_an_answered_http2_stream_that_waits_for_a_window_never_opened_is_reset(
    tls_gateway: Gateway, ca: trustme.CA
) -> None:
    # the client opens no stream's window by itself; the connection's it opens wide
    before = stalls_counted(tls_gateway)
    client = H2Client(tls_gateway.spec.port, ca, read_body=False)
    try:
        client.conn.increment_flow_control_window(BIG)
        client.flush()
        stuck = client.start("GET", f"/other/big/{WINDOWED}")
        other = client.start("GET", f"/other/big/{WINDOWED + 1}")
        # both responses are complete upstream (logged), each with what its window did not take waiting
        logged(tls_gateway, f"/other/big/{WINDOWED}")
        logged(tls_gateway, f"/other/big/{WINDOWED + 1}")
        # the other stream's window opens a little at a time, keeping the connection busy: its 34 KB
        # left would take some 700 reads (seconds, many timeouts) to go, the stuck one's reset long before
        deadline = time.monotonic() + WAIT_S
        while stuck not in client.ended:
            assert time.monotonic() < deadline, "the stream waiting for its window was not reset"
            assert other not in client.ended
            time.sleep(0.01)
            client.conn.increment_flow_control_window(50, other)
            client.flush()
            client.read()  # the 50 bytes the gateway sends for it
        answer = client.answers[stuck]
        assert answer.status == 200 and answer.reset == ErrorCodes.INTERNAL_ERROR
        assert len(answer.body) < WINDOWED
        # the other stream goes on: its window given back in full, it ends with all of its response
        client.read_body = True
        client.conn.increment_flow_control_window(WINDOWED, other)
        client.flush()
        client.until(lambda: other in client.ended)
        assert client.answers[other].reset is None
        assert client.answers[other].body == b"x" * (WINDOWED + 1)
        # one access log line each, written when the response was complete upstream: as it was then
        line = logged(tls_gateway, f"/other/big/{WINDOWED}")
        assert line["status"] == 200 and line["bytes"] == WINDOWED and line["upstream_failure"] is None
    finally:
        client.close()
    wait_counted(tls_gateway, before)  # counted as the client-stalled cut-offs are, for its service


# --- an upstream that stops reading the request body: timeouts.upstream -------------------------------


def _upload(sock: socket.socket, path: str, size: int) -> threading.Thread:
    """Sends a POST of ``size`` bytes to ``path`` from a thread, until done or the gateway closes."""

    def send() -> None:
        piece = b"u" * 65536
        try:
            sock.sendall(b"POST %b HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (path.encode(), size))
            for start in range(0, size, len(piece)):
                sock.sendall(piece[: size - start])
        except OSError:
            pass  # the gateway answered and closed before the end

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_an_upstream_that_stops_reading_the_request_gets_504(gateway: Gateway, slow: SlowUpstream) -> None:
    with connect(gateway.spec.port) as sock:
        sender = _upload(sock, "/other/sink", BIG)
        received = read_until_closed(sock)
        sender.join(WAIT_S)
    assert statuses(received) == [504], received[:300]
    assert b"the upstream did not read the request in time" in received
    assert slow.cut.acquire(timeout=WAIT_S), "the upstream connection was not dropped"
    line = logged(gateway, "/other/sink")
    assert line["status"] == 504 and line["upstream_failure"] == "send-stalled"
    assert request(gateway.spec.port, "GET", "/shop/after-sink")[0] == 200


def test_an_upstream_that_reads_slowly_but_steadily_is_not_cut(gateway: Gateway) -> None:
    with connect(gateway.spec.port) as sock:
        sender = _upload(sock, "/other/sip", STEADY)
        received = b""
        while b"}" not in received:
            data = sock.recv(65536)
            assert data, "the gateway closed the connection"
            received += data
        sender.join(WAIT_S)
    assert statuses(received) == [200], received[:300]
    assert logged(gateway, "/other/sip")["upstream_failure"] is None
