"""Every WebSocket tunnel is one access-log line and one request in the metrics, however it ends: a
real `frontdoor serve`, the demo upstream (which echoes the tunnel's bytes) and a raw socket client."""

from __future__ import annotations

import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import ContractSpec, Gateway, Upstreams, request

UPGRADE = (
    b"GET /other/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
MASK = b"\x37\xfa\x21\x3d"
# a masked text frame "Hello" and a masked close frame (status 1000), as a browser sends them
TEXT = b"\x81\x85" + MASK + bytes(b ^ m for b, m in zip(b"Hello", MASK + MASK[:1], strict=True))
CLOSE = b"\x88\x82" + MASK + bytes(b ^ m for b, m in zip(b"\x03\xe8", MASK[:2], strict=True))


@pytest.fixture
def gateway(upstreams: Upstreams, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway per test: each counts its own tunnels from zero."""
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")])
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "access.log")
    yield running
    running.stop()


def _open_tunnel(port: int) -> tuple[socket.socket, str]:
    """A tunnel through the gateway, and the request id of its 101."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(UPGRADE)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 ") and head.endswith(b"\r\n\r\n"), head
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
    return sock, fields[b"x-request-id"].decode()


def _echo(sock: socket.socket, frame: bytes) -> None:
    sock.sendall(frame)
    echoed = b""
    while len(echoed) < len(frame):
        chunk = sock.recv(4096)
        assert chunk, echoed
        echoed += chunk
    assert echoed == frame


def _until(found: Callable[[], Any]) -> Any:
    """Wait for the batched log (or the metrics' once-a-second tick) to show something; None if it never does."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    return None


def _lines(gateway: Gateway, request_id: str) -> list[dict[str, Any]]:
    return [e for e in gateway.access_log() if e.get("request_id") == request_id]


def _after_a_later_request(gateway: Gateway) -> None:
    """Make and wait for a later request's line: a second line for the tunnel would be written by now."""
    status, headers, _ = request(gateway.spec.port, "GET", "/shop/later")  # another route than the tunnel's
    assert status == 200
    assert _until(lambda: _lines(gateway, headers["x-request-id"]))


def _samples(gateway: Gateway, name: str, route: str = "other.0") -> list[Any]:
    status, body = gateway.admin("/metrics", token="")
    assert status == 200
    families = {f.name: f.samples for f in text_string_to_metric_families(body.decode())}
    return [
        s
        for s in families.get(name, [])
        if s.labels.get("route") == route and s.name.endswith(("_total", "_sum"))
    ]


def test_a_tunnel_closed_normally_is_one_line_with_its_bytes_and_one_request(gateway: Gateway) -> None:
    sock, request_id = _open_tunnel(gateway.spec.port)
    with sock:
        for _ in range(3):
            _echo(sock, TEXT)
        _echo(sock, CLOSE)  # the closing handshake, then the client closes the connection
    lines = _until(lambda: _lines(gateway, request_id))
    assert lines, "the tunnel was never logged"
    _after_a_later_request(gateway)
    [line] = _lines(gateway, request_id)
    carried = 3 * len(TEXT) + len(CLOSE)
    assert line["status"] == 101
    assert line["bytes"] == carried and line["bytes_in"] == carried  # each way, the echo's own bytes
    assert (line["route"], line["service"], line["owner"]) == ("other.0", "other", "shop")
    assert line["path"] == "/other/ws" and line["upstream"].startswith("http://127.0.0.1:")
    # counted as one request, code 1xx ...
    requests = _until(
        lambda: [s for s in _samples(gateway, "frontdoor_requests") if s.labels.get("code") == "1xx"]
    )
    assert requests and sum(s.value for s in requests) == 1
    # ... whose latency is the wait for the 101, not the tunnel's life, which the line's duration is
    [latency] = _samples(gateway, "frontdoor_request_duration_seconds")
    assert latency.value * 1000 + 0.01 < line["duration_ms"]
    # a plain request's line has no bytes_in: only a tunnel carries bytes from the client that way
    assert all("bytes_in" not in e for e in gateway.access_log() if e["status"] != 101)


def _one_tunnel_upstream(listening: socket.socket, reset: bool) -> None:
    """An upstream that accepts one upgrade, echoes one frame and ends the tunnel itself: a close (FIN)
    or, with ``reset``, an abortive close (RST), as a crashed application's kernel would. Any other
    request (a health check) is answered 200 and closed."""
    while True:
        conn, _ = listening.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            if b"upgrade: websocket" not in head.lower():
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                continue
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
            )
            frame = b""
            while len(frame) < len(TEXT):
                frame += conn.recv(4096)
            conn.sendall(frame)
            if reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_a_tunnel_the_upstream_ends_is_one_line(upstreams: Upstreams, tmp_path: Path, reset: bool) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        upstream = threading.Thread(target=_one_tunnel_upstream, args=(listening, reset), daemon=True)
        upstream.start()
        spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[listening.getsockname()[1]])
        gateway = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "access.log")
        try:
            sock, request_id = _open_tunnel(spec.port)
            with sock:
                _echo(sock, TEXT)
                upstream.join(10)
                assert sock.recv(4096) == b""  # the gateway ends the client's side with the upstream's
            assert _until(lambda: _lines(gateway, request_id)), "the tunnel was never logged"
            _after_a_later_request(gateway)
            [line] = _lines(gateway, request_id)
            assert line["status"] == 101 and line["bytes"] == len(TEXT) == line["bytes_in"]
        finally:
            gateway.stop()


def test_a_tunnel_still_open_when_the_drain_ends_is_logged(gateway: Gateway) -> None:
    """SIGTERM waits for requests in flight up to its deadline, then cuts what is left: a tunnel open
    until then is still one line (the last flush of the log used to come before its connection's end)."""
    sock, request_id = _open_tunnel(gateway.spec.port)
    with sock:
        _echo(sock, TEXT)
        gateway.signal(signal.SIGTERM)
        assert gateway.process.wait(30) == 0
    [line] = _lines(gateway, request_id)
    assert line["status"] == 101 and line["bytes"] == len(TEXT) == line["bytes_in"]
