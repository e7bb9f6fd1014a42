"""Client certificates (mutual TLS) end to end, with real handshakes: a certificate client is admitted by
name, and the upstream and the access log learn the name; no certificate, another CA's, an expired one
or one that is no declared client never gets in."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .h2client import H2Client
from .harness import Gateway, Upstreams
from .pki import Pki, context, get, make_pki, mtls_spec


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def start(pki: Pki, folder: Path, mode: str) -> tuple[Gateway, Upstreams]:
    upstreams = Upstreams()
    spec = mtls_spec(pki, upstreams.start("shop"), upstreams.start("other"), mode)
    return Gateway(spec.write(folder / "contract"), spec, folder / "log"), upstreams


@pytest.fixture(scope="module")
def required(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway, upstreams = start(pki, tmp_path_factory.mktemp("required"), "required")
    yield gateway
    gateway.stop()
    upstreams.close()


def refused(port: int, client: ssl.SSLContext) -> bool:
    """Whether the gateway ends the connection instead of answering: in TLS 1.3 the client finishes
    its handshake before the server has checked the client's certificate, so the refusal (an alert, or
    the connection closed) arrives on the first read."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname="shop.test") as tls,
        ):
            tls.sendall(b"GET /shop HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            return not tls.recv(4096).startswith(b"HTTP/1.1")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def test_a_certificate_client_is_admitted_by_name(pki: Pki, required: Gateway) -> None:
    status, _, body = get(required.spec.port, context(pki, pki.batch), "/batch/run")
    assert status == 200
    assert json.loads(body)["headers"]["x-frontdoor-client"] == "batch"
    deadline = time.monotonic() + 5  # the log is written in batches, a few times a second
    while not (logged := [e for e in required.access_log() if e.get("path") == "/batch/run"]):
        assert time.monotonic() < deadline, "no access log line"
        time.sleep(0.05)
    assert logged[-1]["api_client"] == "batch"


def test_a_client_matched_by_subject(pki: Pki, required: Gateway) -> None:
    status, _, body = get(required.spec.port, context(pki, pki.auditor), "/both")
    assert status == 200
    assert json.loads(body)["headers"]["x-frontdoor-client"] == "auditor"
    # a declared client, but not one this route lists
    assert get(required.spec.port, context(pki, pki.auditor), "/batch")[0] == 403


def test_a_certificate_of_no_declared_client_is_refused(pki: Pki, required: Gateway) -> None:
    status, _, body = get(required.spec.port, context(pki, pki.stranger), "/batch")
    assert status == 403
    assert b"client certificate" in body
    # a public route needs nothing more than the handshake
    assert get(required.spec.port, context(pki, pki.stranger), "/shop")[0] == 200


@pytest.mark.parametrize("who", ["none", "foreign", "expired"])
def test_no_certificate_or_one_that_does_not_verify_gets_no_connection(
    pki: Pki, required: Gateway, who: str
) -> None:
    pair = {"none": None, "foreign": pki.foreign, "expired": pki.expired}[who]
    assert refused(required.spec.port, context(pki, pair))
    assert not refused(required.spec.port, context(pki, pki.batch))  # the same test passes a valid one


def test_optional_mode_lets_the_handshake_through_but_not_the_route(pki: Pki, tmp_path: Path) -> None:
    gateway, upstreams = start(pki, tmp_path, "optional")
    try:
        anonymous = context(pki, None)
        assert get(gateway.spec.port, anonymous, "/shop")[0] == 200
        # a certificate pasted into a header proves nothing: only the handshake's counts
        forged = {"Ssl-Client-Cert": pki.batch.pem.decode().replace("\n", "")}
        status, _, body = get(gateway.spec.port, anonymous, "/batch", forged)
        assert status == 403 and b"client certificate" in body
        assert get(gateway.spec.port, context(pki, pki.batch), "/batch")[0] == 200
        assert refused(gateway.spec.port, context(pki, pki.foreign))  # optional, but still verified
    finally:
        gateway.stop()
        upstreams.close()


def test_over_http2_a_certificate_client_is_admitted_by_name(pki: Pki, required: Gateway) -> None:
    """Each HTTP/2 stream reads the certificate of the connection it came on."""
    client = H2Client(required.spec.port, pki.server_ca, client_certificate=(pki.batch.cert, pki.batch.key))
    try:
        answer = client.request("GET", "/batch/h2")
        assert answer.status == 200
        assert json.loads(answer.body)["headers"]["x-frontdoor-client"] == "batch"
        assert client.request("GET", "/both").status == 200  # a second stream, the same certificate
    finally:
        client.close()
    stranger = H2Client(
        required.spec.port, pki.server_ca, client_certificate=(pki.stranger.cert, pki.stranger.key)
    )
    try:
        assert stranger.request("GET", "/batch").status == 403
    finally:
        stranger.close()
