"""HTTP/2 to clients on a TLS entrypoint, end to end: real TLS (trustme), a real gateway process, real
upstreams, and clients that speak real frames (the h2 library, curl --http2, httpx). Each attack of
docs/gateway.md's HTTP/2 section is sent as the frames an attacker would send, and refused as documented.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import shutil
import signal
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame
from prometheus_client.parser import text_string_to_metric_families

from .h2client import H2Client, tls_context
from .harness import ContractSpec, Gateway, Upstreams, free_port

MAX_STREAMS = 8


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def gateway(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("h2")
    upstreams = Upstreams()
    issued = ca.issue_cert("shop.test", "localhost", "127.0.0.1")
    cert, key = root / "tls.crt", root / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        tls=(cert, key, "1.2"),
        upstream_timeout="30s",  # the concurrency test holds streams open on the upstream
        protection={"max_concurrent_streams": str(MAX_STREAMS)},
    )
    running = Gateway(spec.write(root / "contract"), spec, root / "log")
    yield running
    running.stop()
    upstreams.close()


def client(gateway: Gateway, ca: trustme.CA, **kwargs: Any) -> H2Client:
    return H2Client(gateway.spec.port, ca, **kwargs)


def h1(
    gateway: Gateway,
    ca: trustme.CA,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """The same request over HTTP/1.1 on the same TLS entrypoint."""
    context = tls_context(ca, ("http/1.1",))
    connection = http.client.HTTPSConnection("127.0.0.1", gateway.spec.port, context=context, timeout=10)
    connection.sock = None
    try:
        connection.connect()
        assert isinstance(connection.sock, ssl.SSLSocket)
        assert connection.sock.selected_alpn_protocol() == "http/1.1"
        connection.request(method, path, body=body, headers={"Host": "shop.test", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# --- serving --------------------------------------------------------------------------------------------


def test_curl_gets_http2_200(gateway: Gateway, ca: trustme.CA, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    assert curl is not None
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = gateway.spec.port
    out = subprocess.run(
        [
            curl,
            "-sS",
            "-i",
            "--http2",
            "--cacert",
            str(ca_file),
            "--resolve",
            f"shop.test:{port}:127.0.0.1",
            f"https://shop.test:{port}/shop/curl",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout.startswith("HTTP/2 200"), out.stdout[:200]
    assert '"x-forwarded-proto": "https"' in out.stdout


def test_h2load_gets_every_request_answered(gateway: Gateway, ca: trustme.CA) -> None:
    """nghttp2's own client, bounded (200 requests, 4 connections of 4 streams): all answered 2xx."""
    h2load = shutil.which("h2load")
    assert h2load is not None, "h2load is missing: scripts/system-packages.sh installs nghttp2-client"
    out = subprocess.run(
        [
            h2load,
            "-n",
            "200",
            "-c",
            "4",
            "-m",
            "4",
            "-t",
            "1",
            f"https://127.0.0.1:{gateway.spec.port}/shop/h2load",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "Application protocol: h2" in out, out
    assert "requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored" in out, out
    assert "status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx" in out, out


def test_httpx_over_http2_sees_what_http1_sees(gateway: Gateway, ca: trustme.CA) -> None:
    context = tls_context(ca, ("h2", "http/1.1"))
    with httpx.Client(http2=True, verify=context) as session:
        response = session.get(
            f"https://127.0.0.1:{gateway.spec.port}/shop/x?a=1", headers={"host": "shop.test"}
        )
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    status, headers, body = h1(gateway, ca, "GET", "/shop/x?a=1")
    assert status == 200
    seen2, seen1 = response.json(), json.loads(body)
    for name in ("x-request-id", "traceparent"):  # per request
        seen1["headers"].pop(name)
        seen2["headers"].pop(name)
    assert seen2["headers"] == seen1["headers"]
    assert seen2["path"] == seen1["path"] == "/shop/x?a=1"
    assert response.headers["strict-transport-security"] == headers["strict-transport-security"]


def test_bodies_of_any_size_both_ways(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca, window=16 * 1024)  # a small window: the gateway must wait for it
    try:
        body = bytes(range(256)) * (5 * 4096)  # 5 MiB, many windows' worth
        answer = h2.request("POST", "/shop/upload", body=body)
        assert answer.status == 200
        seen = json.loads(answer.body)
        assert seen["body_bytes"] == len(body)
        assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
        big = h2.request("GET", "/shop/big?bytes=3000000")
        assert big.status == 200 and big.body == b"x" * 3_000_000
        chunked = h2.request("GET", "/shop/big?bytes=1000000&chunked=1")
        assert chunked.status == 200 and chunked.body == b"x" * 1_000_000
        head = h2.request("HEAD", "/shop/big?bytes=1000")
        assert head.status == 200 and head.body == b"" and head.headers["content-length"] == "1000"
    finally:
        h2.close()


def test_many_streams_on_one_connection(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca)
    try:
        ids = [h2.start("GET", f"/shop/{n}") for n in range(MAX_STREAMS)]
        h2.until(lambda: all(i in h2.ended for i in ids))
        assert [h2.answers[i].status for i in ids] == [200] * MAX_STREAMS
        assert [json.loads(h2.answers[i].body)["path"] for i in ids] == [
            f"/shop/{n}" for n in range(MAX_STREAMS)
        ]
    finally:
        h2.close()


def test_access_log_names_the_protocol(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca)
    try:
        answer = h2.request("GET", "/shop/logged-h2")
    finally:
        h2.close()
    _status, headers, _ = h1(gateway, ca, "GET", "/shop/logged-h1")
    ids = {answer.headers["x-request-id"]: "HTTP/2", headers["x-request-id"]: "HTTP/1.1"}

    def logged() -> dict[str, str]:
        return {e["request_id"]: e["protocol"] for e in gateway.access_log() if e.get("request_id") in ids}

    from .test_operations import eventually

    eventually(lambda: len(logged()) == 2)
    assert logged() == ids


def test_metrics_count_each_protocol_under_its_own_label(gateway: Gateway, ca: trustme.CA) -> None:
    """frontdoor_requests_total carries ``protocol`` as the access log does: three requests over HTTP/2
    and two over HTTP/1.1 on the same route are counted apart."""
    from .test_operations import eventually, scrape, value

    shop = {"route": "shop.0", "method": "GET", "code": "2xx"}

    def counted() -> tuple[float, float]:
        samples = scrape(gateway)
        return (
            value(samples, "frontdoor_requests", protocol="HTTP/2", **shop),
            value(samples, "frontdoor_requests", protocol="HTTP/1.1", **shop),
        )

    h2_before, h1_before = counted()
    h2 = client(gateway, ca)
    try:
        assert [h2.request("GET", f"/shop/counted-h2-{n}").status for n in range(3)] == [200] * 3
    finally:
        h2.close()
    assert [h1(gateway, ca, "GET", f"/shop/counted-h1-{n}")[0] for n in range(2)] == [200] * 2
    eventually(lambda: counted() == (h2_before + 3, h1_before + 2))


# --- attacks --------------------------------------------------------------------------------------------


def test_connection_specific_fields_reset_the_stream(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca)
    try:
        for field in [
            (b"connection", b"keep-alive"),
            (b"transfer-encoding", b"chunked"),
            (b"te", b"gzip"),
            (b"upgrade", b"h2c"),
            (b"keep-alive", b"5"),
            (b"Host", b"shop.test"),
        ]:
            answer = h2.request("GET", "/shop/smuggle", [field])
            assert answer.reset == ErrorCodes.PROTOCOL_ERROR, field
            assert answer.status == 0  # no response: the stream is reset, the connection goes on
        assert h2.request("GET", "/shop/te", [(b"te", b"trailers")]).status == 200
    finally:
        h2.close()


def test_rapid_reset_gets_goaway(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca)
    try:
        for _ in range(300):  # CVE-2023-44487: open and cancel at once, never waiting for the answers
            stream_id = h2.conn.get_next_available_stream_id()
            h2.conn.send_headers(stream_id, h2.fields("GET", "/shop/reset?delay_ms=50"), end_stream=True)
            h2.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
        h2.send_raw(h2.conn.data_to_send())
        assert h2.until_closed().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        h2.close()
    samples = _metrics(gateway)
    assert _value(samples, event="http2_rapid_reset") >= 1
    assert _value(samples, event="http2_goaway_enhance_your_calm") >= 1


@pytest.mark.parametrize("flood", ["settings", "ping"])
def test_settings_and_ping_floods_get_goaway(gateway: Gateway, ca: trustme.CA, flood: str) -> None:
    h2 = client(gateway, ca)
    try:
        frame = H2Client.settings() if flood == "settings" else H2Client.ping(7)
        h2.send_raw(frame * 300)
        assert h2.until_closed().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        h2.close()


def test_continuation_flood_gets_goaway(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca)
    try:
        # CVE-2024-27316: a header block that never ends, CONTINUATION after CONTINUATION
        stream_id = h2.conn.get_next_available_stream_id()
        opening = h2.raw_headers(stream_id, h2.fields("GET", "/shop/flood"), end_headers=False)
        filler = H2Client.continuation(stream_id, b"\x00" * 16000)  # literal fields, never ended
        h2.send_raw(opening + filler * 40)
        assert h2.until_closed().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        h2.close()
    # many small ones: the h2 library's own bound on the frames of one block
    h2 = client(gateway, ca)
    try:
        stream_id = h2.conn.get_next_available_stream_id()
        opening = h2.raw_headers(stream_id, h2.fields("GET", "/shop/flood"), end_headers=False)
        h2.send_raw(opening + H2Client.continuation(stream_id, b"") * 500)
        assert h2.until_closed().error_code in (ErrorCodes.ENHANCE_YOUR_CALM, ErrorCodes.PROTOCOL_ERROR)
    finally:
        h2.close()


def test_hpack_bomb_gets_goaway(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca)
    try:
        # one 4000-byte field in the HPACK table, then referenced by one byte each: 200 KB decoded from 4 KB
        big = (b"x-bomb", b"a" * 4000)
        stream_id = h2.conn.get_next_available_stream_id()
        h2.conn.send_headers(stream_id, h2.fields("GET", "/shop/bomb", [big] * 50), end_stream=True)
        h2.flush()
        assert h2.until_closed().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        h2.close()


def test_an_oversized_header_list_gets_431_as_over_http1(gateway: Gateway, ca: trustme.CA) -> None:
    value = "v" * 9000  # max_header_bytes is 8KiB (tests/harness.py)
    status, _headers, body = h1(gateway, ca, "GET", "/shop/big-head", {"X-Big": value})
    h2 = client(gateway, ca)
    try:
        answer = h2.request("GET", "/shop/big-head", [(b"x-big", value.encode())])
    finally:
        h2.close()
    assert answer.status == status == 431
    assert json.loads(answer.body)["reason"] == json.loads(body)["reason"]


def test_max_concurrent_streams_is_advertised_and_enforced(gateway: Gateway, ca: trustme.CA) -> None:
    h2 = client(gateway, ca)
    try:
        h2.until(lambda: h2.conn.remote_settings.max_concurrent_streams == MAX_STREAMS)
        # requests whose bodies never come: each holds its stream open
        for n in range(MAX_STREAMS):
            stream_id = h2.conn.get_next_available_stream_id()
            h2.conn.send_headers(
                stream_id, h2.fields("POST", f"/shop/hold/{n}", [(b"content-length", b"10")])
            )
        # one more than advertised: the client library would refuse to send it, so it is told otherwise
        h2.conn.remote_settings.update({SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        h2.conn.remote_settings.acknowledge()
        stream_id = h2.conn.get_next_available_stream_id()
        h2.conn.send_headers(stream_id, h2.fields("POST", "/shop/hold/extra", [(b"content-length", b"10")]))
        h2.flush()
        assert h2.until_closed().error_code == ErrorCodes.PROTOCOL_ERROR
    finally:
        h2.close()


def test_a_request_body_larger_than_max_request_body_gets_413(ca: trustme.CA, tmp_path: Path) -> None:
    upstreams = Upstreams()
    issued = ca.issue_cert("shop.test")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], tls=(cert, key, "1.2"), max_request_body="64KiB")
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    try:
        h2 = H2Client(spec.port, ca)
        try:
            declared = h2.request("POST", "/shop/up", [(b"content-length", b"70000")], b"y" * 70000)
            assert declared.status == 413
            undeclared = h2.request("POST", "/shop/up", body=b"y" * 70000)  # no content-length: counted
            assert undeclared.status == 413
            assert h2.request("GET", "/shop/after").status == 200  # the connection goes on
        finally:
            h2.close()
    finally:
        running.stop()
        upstreams.close()


def _metrics(gateway: Gateway) -> dict[str, list[Any]]:
    status, body = gateway.admin("/metrics", token="")
    assert status == 200
    return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}


def _value(samples: dict[str, list[Any]], **labels: str) -> float:
    return sum(
        float(s.value)
        for s in samples.get("frontdoor_protection_events", [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_a_client_that_stops_reading_stops_the_upstream(ca: trustme.CA, tmp_path: Path) -> None:
    """Flow control end to end: a client that never opens its window again must not make the gateway
    read (and hold) the upstream's whole response. The upstream offers 64 MiB and honours backpressure
    (it writes only as fast as the gateway reads); it must stall far short of the end."""
    offered = 64 * 1024 * 1024
    sent = [0]
    stalled = threading.Event()

    async def big_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % offered)
        block = b"z" * 65536
        while sent[0] < offered:
            writer.write(block)
            sent[0] += len(block)
            try:
                await asyncio.wait_for(writer.drain(), 3)
            except TimeoutError:
                stalled.set()  # no progress for 3 s: the gateway stopped reading
                await writer.drain()
        stalled.set()  # all of it was read: the test fails below
        writer.close()

    upstreams = Upstreams()
    port = free_port()
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(big_response, "127.0.0.1", port), upstreams.loop
    ).result(5)
    issued = ca.issue_cert("shop.test")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[port], tls=(cert, key, "1.2"))
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    h2 = H2Client(spec.port, ca, read_body=False)
    try:
        stream_id = h2.start("GET", "/other/big")
        h2.until(lambda: stream_id in h2.answers and len(h2.answers[stream_id].body) >= 65535)
        assert stalled.wait(60)
        assert sent[0] < offered, "the upstream never stalled: the gateway read on"
        # what the gateway may hold: its high-water mark, the sockets' buffers on both sides, a read or two
        assert sent[0] < 32 * 1024 * 1024, sent[0]
        assert len(h2.answers[stream_id].body) == 65535  # the client's window, not a byte more
    finally:
        h2.close()
        running.stop()
        upstreams.loop.call_soon_threadsafe(server.close)
        upstreams.close()


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_request_trailers_never_reach_the_http1_upstream(
    ca: trustme.CA, tmp_path: Path, length: bool
) -> None:
    """Trailers an HTTP/2 client sends after its body are dropped (docs/gateway.md): the upstream gets
    the body, framed by Content-Length or chunked, and no trailer field anywhere in its bytes."""
    received: list[bytes] = []

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if b"content-length: 5\r\n" in head.lower():
            body = await reader.readexactly(5)
        else:  # chunked: the last chunk, then trailer lines (if any were passed on) up to an empty one
            body = await reader.readuntil(b"\r\n0\r\n")
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                body += line
            body += b"\r\n"
        received.append(head + body)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    upstreams = Upstreams()
    port = free_port()
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(recording, "127.0.0.1", port), upstreams.loop
    ).result(5)
    issued = ca.issue_cert("shop.test")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[port], tls=(cert, key, "1.2"))
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    h2 = H2Client(spec.port, ca)
    try:
        stream_id = h2.conn.get_next_available_stream_id()
        fields = [(b"te", b"trailers"), *([(b"content-length", b"5")] if length else [])]
        h2.conn.send_headers(stream_id, h2.fields("POST", "/other/trailers", fields))
        h2.conn.send_data(stream_id, b"hello")
        h2.conn.send_headers(stream_id, [(b"x-trailer-secret", b"t0ps3cret")], end_stream=True)
        h2.flush()
        h2.until(lambda: stream_id in h2.ended)
        assert h2.answers[stream_id].status == 200
        assert h2.answers[stream_id].body == b"ok"
    finally:
        h2.close()
        running.stop()
        upstreams.loop.call_soon_threadsafe(server.close)
        upstreams.close()
    assert len(received) == 1
    seen = received[0]
    assert seen.startswith(b"POST /other/trailers HTTP/1.1\r\n")
    assert b"hello" in seen  # the body went on
    assert b"x-trailer-secret" not in seen.lower() and b"t0ps3cret" not in seen
    assert b"\r\nte:" not in seen.lower()  # a hop-by-hop field, not passed upstream either


def test_a_drain_sends_goaway_and_finishes_the_streams_begun(ca: trustme.CA, tmp_path: Path) -> None:
    upstreams = Upstreams()
    issued = ca.issue_cert("shop.test")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], tls=(cert, key, "1.2"))
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    h2 = H2Client(spec.port, ca)
    try:
        begun = h2.start("GET", "/shop/begun?delay_ms=1500")  # still upstream when the drain starts
        assert h2.request("GET", "/shop/after").status == 200  # so the first stream has been read too
        running.process.send_signal(signal.SIGTERM)
        frames = h2.frames_until_closed()  # the gateway closes once the stream begun is answered
        goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
        assert [(f.error_code, f.last_stream_id >= begun) for f in goaway] == [(ErrorCodes.NO_ERROR, True)]
        heads = [f for f in frames if isinstance(f, HeadersFrame) and f.stream_id == begun]
        assert len(heads) == 1 and (b":status", b"200") in list(
            h2.conn.decoder.decode(heads[0].data, raw=True)
        )
        body = [f for f in frames if isinstance(f, DataFrame) and f.stream_id == begun]
        assert json.loads(b"".join(f.data for f in body))["path"] == "/shop/begun?delay_ms=1500"
        assert "END_STREAM" in body[-1].flags
        assert running.process.wait(15) == 0
    finally:
        h2.close()
        running.stop()
        upstreams.close()


def test_a_body_longer_than_its_content_length_never_reaches_the_upstream(
    gateway: Gateway, ca: trustme.CA
) -> None:
    # over HTTP/1.1 upstream, the extra bytes would be read as the start of another request (smuggling)
    h2 = client(gateway, ca)
    try:
        stream_id = h2.conn.get_next_available_stream_id()
        h2.conn.send_headers(stream_id, h2.fields("POST", "/shop/smuggle", [(b"content-length", b"5")]))
        h2.conn.send_data(stream_id, b"12345GET /shop/x HTTP/1.1\r\n\r\n", end_stream=True)
        h2.flush()
        assert h2.until_closed().error_code == ErrorCodes.PROTOCOL_ERROR
        assert h2.answers.get(stream_id) is None
    finally:
        h2.close()


def test_an_idle_connection_gets_goaway_but_not_while_a_stream_is_answered(
    ca: trustme.CA, tmp_path: Path
) -> None:
    """The idle timeout (1 s here) counts from the last bytes the client sent, and passes over a connection
    whose stream is still upstream (2.5 s): that stream is answered, then the idle connection closed."""
    upstreams = Upstreams()
    issued = ca.issue_cert("shop.test")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)], tls=(cert, key, "1.2"), idle_timeout="1s", upstream_timeout="10s"
    )
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    h2 = H2Client(spec.port, ca)
    try:
        assert h2.request("GET", "/shop/slow?delay_ms=2500").status == 200
        assert h2.until_closed().error_code == ErrorCodes.NO_ERROR  # GOAWAY, then the close
        assert _value(_metrics(running), event="http2_goaway_idle") == 1
    finally:
        h2.close()
        running.stop()
        upstreams.close()
