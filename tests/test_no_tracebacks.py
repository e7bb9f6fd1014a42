"""No client input may produce a traceback in the gateway's log: the adversarial requests of the
end-to-end suite (smuggling vectors, random bytes, limits) and the ones that found the
``write() after write_eof()`` path, sent to one gateway whose whole output is then read; and, on a TLS
entrypoint, the HTTP/2 attacks of tests/test_h2.py (each still answered as documented there) and TLS
garbage (plain bytes, a handshake cut short, random frames after the preface), likewise."""

from __future__ import annotations

import contextlib
import random
import socket
import ssl
import struct
import time
from collections.abc import Iterator

import pytest
import trustme

from . import test_h2 as h2_attacks
from .h2client import H2Client, tls_context
from .harness import ContractSpec, Gateway, Upstreams, raw_exchange, request, statuses
from .test_gateway_e2e import SMUGGLING

# An answer given at once inside a read (a 401, a 404: no upstream involved) that closes the connection,
# followed in the same read by bytes that break the framing: the gateway had half-closed the connection
# when it met the error, and wrote its 400 after its own EOF.
ANSWERED_THEN_BROKEN = [
    b"POST /private HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab\r\nxx zz\r\n\r\n",
    b"POST /nowhere HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n",
    b"POST /private HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n",
    b"GET /private HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/9.9\r\n\r\n",
    b"POST /nowhere HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nabGET / HTTP/9.9\r\n\r\n",
]

OTHER_VECTORS = [
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /other HTTP/1.1\r\nHost: h\r\n" + b"X-Many: a\r\n" * 500 + b"\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    b"G\x00T / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /other HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
    b"POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"POST /other HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
    b"GET /other HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /other HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"GET /other/slow?delay_ms=300 HTTP/1.1\r\nHost: h\r\n\r\n" * 3,
]


@pytest.fixture(scope="module")
def gateway(upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")], max_request_body="1MiB"
    )
    root = tmp_path_factory.mktemp("adversarial")
    running = Gateway(spec.write(root / "contract"), spec, root / "access.log", output=root / "out")
    yield running
    running.stop()


def half_close(port: int, data: bytes) -> bytes:
    """Send ``data``, shut our sending side, read what comes back until the gateway closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def reset_after(port: int, data: bytes, wait: float) -> None:
    """Send ``data``, then reset the connection (RST, SO_LINGER 0) while the answer may be on its way."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.sendall(data)
    time.sleep(wait)
    sock.close()


def test_a_client_that_half_closes_before_its_body_ends_gets_400(gateway: Gateway) -> None:
    raw = half_close(gateway.spec.port, b"POST /other/x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab")
    assert statuses(raw) == [400]
    assert b"before the request body ended" in raw
    chunked = b"POST /other/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"
    assert statuses(half_close(gateway.spec.port, chunked)) == [400]
    # a complete request, then the half-close: answered as before
    whole = b"POST /other/x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"
    assert statuses(half_close(gateway.spec.port, whole)) == [200]


def test_nothing_after_a_closing_answer_in_the_same_read_is_served(
    gateway: Gateway, upstreams: Upstreams
) -> None:
    port = next(iter(gateway.spec.other))
    seen_before = len(upstreams.states[port].seen)
    raw = raw_exchange(
        gateway.spec.port,
        b"GET /private HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        b"GET /other/after-close HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    assert statuses(raw) == [401]
    assert request(gateway.spec.port, "GET", "/other/probe")[0] == 200  # the upstream log is up to date
    assert not any("after-close" in line for line in upstreams.states[port].seen[seen_before:])


@pytest.mark.parametrize("vector", ANSWERED_THEN_BROKEN, ids=range(len(ANSWERED_THEN_BROKEN)))
def test_an_answer_then_broken_framing_gets_one_answer(gateway: Gateway, vector: bytes) -> None:
    assert len(statuses(raw_exchange(gateway.spec.port, vector))) == 1


def test_the_log_holds_no_traceback_after_the_adversarial_suite(gateway: Gateway) -> None:
    port = gateway.spec.port
    for vector in [*SMUGGLING, *ANSWERED_THEN_BROKEN, *OTHER_VECTORS]:
        raw_exchange(port, vector, timeout=3)
        half_close(port, vector)
        reset_after(port, vector, 0.01)
    generator = random.Random(18)
    prefixes = [
        b"",
        b"GET / HTTP/1.1\r\n",
        b"POST /other HTTP/1.1\r\nHost: h\r\n",
        b"POST /private HTTP/1.1\r\n",
    ]
    for _ in range(120):
        blob = bytes(generator.getrandbits(8) for _ in range(generator.randrange(1, 400)))
        data = generator.choice(prefixes) + blob
        if generator.random() < 0.5:
            raw_exchange(port, data, timeout=2, linger=0.05)
        else:
            half_close(port, data)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:  # the head never finishes: 408
        sock.sendall(b"GET /other HTTP/1.1\r\nHost: h\r\n")
        assert statuses(sock.recv(4096)) == [408]
    assert request(port, "GET", "/other/alive")[0] == 200
    assert gateway.stop() == 0
    out = gateway.output()
    assert "draining" in out  # the whole output was read
    assert "Traceback" not in out and " ERROR " not in out, out[-4000:]


# --- HTTP/2 and TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_gateway(
    upstreams: Upstreams, ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """test_h2.py's gateway (the same limits, so its attack tests hold here), its output to a file."""
    root = tmp_path_factory.mktemp("adversarial-tls")
    issued = ca.issue_cert("shop.test", "localhost", "127.0.0.1")
    cert, key = root / "tls.crt", root / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        tls=(cert, key, "1.2"),
        upstream_timeout="30s",
        protection={"max_concurrent_streams": str(h2_attacks.MAX_STREAMS)},
    )
    running = Gateway(spec.write(root / "contract"), spec, root / "access.log", output=root / "out")
    yield running
    running.stop()


def client_hello(server_name: str) -> bytes:
    """The first flight of a real TLS handshake, made in memory: what a client sends before it waits."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the server: the hello is out
        tls.do_handshake()
    return outgoing.read()


def tls_garbage(port: int, generator: random.Random) -> None:
    """What reaches a TLS port that is not a client finishing its handshake."""
    hello = client_hello("shop.test")
    assert hello[:1] == b"\x16"  # a handshake record: what is cut short below is a real one
    for data in [
        b"GET /shop HTTP/1.1\r\nHost: shop.test\r\n\r\n",  # plain HTTP on the TLS port
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # cleartext HTTP/2 (h2c) on the TLS port
        hello[: len(hello) // 2],  # a ClientHello cut short, then closed or reset
        hello,  # a whole ClientHello, then nothing more
        b"\x16\x03\x01\xff\xff" + b"\x00" * 64,  # a record header announcing more than comes
    ]:
        with contextlib.suppress(OSError):  # the gateway may reset: only its log is judged here
            raw_exchange(port, data, timeout=2)
        with contextlib.suppress(OSError):
            half_close(port, data)
        reset_after(port, data, 0.01)
    for _ in range(20):
        blob = bytes(generator.getrandbits(8) for _ in range(generator.randrange(1, 600)))
        with contextlib.suppress(OSError):
            raw_exchange(port, generator.choice([b"", hello[:5], hello]) + blob, timeout=0.5, linger=0.05)


def h2_garbage(port: int, ca: trustme.CA, generator: random.Random) -> None:
    """After a real TLS handshake with ALPN h2: the preface, then random bytes where frames should be."""
    for _ in range(20):
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            tls_context(ca).wrap_socket(raw, server_hostname="shop.test") as tls,
        ):
            assert tls.selected_alpn_protocol() == "h2"
            blob = bytes(generator.getrandbits(8) for _ in range(generator.randrange(1, 600)))
            tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + H2Client.settings() + blob)
            tls.settimeout(0.5)  # a frame announced longer than the bytes sent waits for the rest
            try:
                while tls.recv(65536):  # until the gateway closes (GOAWAY first, for a frame it refused)
                    pass
            except (OSError, ssl.SSLError):
                pass  # a reset, a TLS close without close_notify, or still waiting: judged by the log


def test_the_log_holds_no_traceback_after_http2_attacks_and_tls_garbage(
    tls_gateway: Gateway, ca: trustme.CA
) -> None:
    gateway, port = tls_gateway, tls_gateway.spec.port
    # each attack as test_h2.py sends it, with its assertions: refused as documented, here too
    h2_attacks.test_rapid_reset_gets_goaway(gateway, ca)
    h2_attacks.test_continuation_flood_gets_goaway(gateway, ca)
    h2_attacks.test_hpack_bomb_gets_goaway(gateway, ca)
    for flood in ("settings", "ping"):
        h2_attacks.test_settings_and_ping_floods_get_goaway(gateway, ca, flood)
    h2_attacks.test_connection_specific_fields_reset_the_stream(gateway, ca)
    h2_attacks.test_max_concurrent_streams_is_advertised_and_enforced(gateway, ca)
    h2_attacks.test_an_oversized_header_list_gets_431_as_over_http1(gateway, ca)
    generator = random.Random(16)
    tls_garbage(port, generator)
    h2_garbage(port, ca, generator)
    h2 = H2Client(port, ca)
    try:
        assert h2.request("GET", "/other/alive").status == 200
    finally:
        h2.close()
    assert gateway.stop() == 0
    out = gateway.output()
    assert "draining" in out  # the whole output was read
    assert "Traceback" not in out and " ERROR " not in out, out[-4000:]
