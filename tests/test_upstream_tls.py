"""https:// upstreams with real TLS: verified against a CA from a secret (or the system's store), with
the server name sent and checked, and the gateway's own client certificate where the upstream asks for
one. Every verification failure is a prompt 502 naming the route's owner: never an unverified or plain
connection instead."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trustme

from frontdoor.demo.documents import join, service
from frontdoor.demo.upstream import DemoUpstream, UpstreamState

from .harness import SERVICES, ContractSpec, Gateway, Upstreams, free_port, request
from .pki import client_certificate

#: one public route per upstream case, each its own service (and so its own upstream settings)
CASES = ("good", "wrongca", "system", "badname", "mtls", "nocert", "plain", "silent")
UPSTREAM_SERVICES = join(
    SERVICES, *(service(name, "shop", f"- {{path: /{name}, access: public}}") for name in CASES)
)


def tls_upstream(upstreams: Upstreams, context: ssl.SSLContext) -> int:
    """A demo upstream behind TLS, on the Upstreams' event loop."""
    port = free_port()

    async def serve() -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: DemoUpstream("tls", UpstreamState()), "127.0.0.1", port, ssl=context
        )

    upstreams.servers[port] = asyncio.run_coroutine_threadsafe(serve(), upstreams.loop).result(5)
    return port


def silent_upstream() -> tuple[int, socket.socket]:
    """Accepts connections and never says a word (no ServerHello)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return int(listener.getsockname()[1]), listener


@dataclass
class Stack:
    gateway: Gateway


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("upstream-tls")
    backend_ca, other_ca, gateway_ca = trustme.CA(), trustme.CA(), trustme.CA()
    issued = backend_ca.issue_cert("backend.internal")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issued.configure_cert(server)
    strict = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # asks the gateway for its certificate
    issued.configure_cert(strict)
    gateway_ca.configure_trust(strict)
    strict.verify_mode = ssl.CERT_REQUIRED
    backend_ca.cert_pem.write_to_path(str(folder / "backend-ca.pem"))
    other_ca.cert_pem.write_to_path(str(folder / "other-ca.pem"))
    mine = client_certificate(gateway_ca, folder, "gateway")
    upstreams = Upstreams()
    port, strict_port = tls_upstream(upstreams, server), tls_upstream(upstreams, strict)
    silent_port, silent = silent_upstream()
    trusted = "ca: secret:backend-ca, server_name: backend.internal"
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        services=UPSTREAM_SERVICES,
        upstream_timeout="5s",
        retries=1,
        upstreams={
            "good": f'[{{url: "https://127.0.0.1:{port}", tls: {{{trusted}}}}}]',
            "wrongca": f'[{{url: "https://127.0.0.1:{port}", tls: {{ca: secret:other-ca, server_name: backend.internal}}}}]',
            "system": f'["https://127.0.0.1:{port}"]',
            "badname": f'[{{url: "https://127.0.0.1:{port}", tls: {{ca: secret:backend-ca, server_name: other.internal}}}}]',
            "mtls": f'[{{url: "https://127.0.0.1:{strict_port}", tls: {{{trusted}, cert: secret:gw-cert, key: secret:gw-key}}}}]',
            "nocert": f'[{{url: "https://127.0.0.1:{strict_port}", tls: {{{trusted}}}}}]',
            "plain": f'[{{url: "https://127.0.0.1:{upstreams.start("plain")}", tls: {{{trusted}}}}}]',
            "silent": f'[{{url: "https://127.0.0.1:{silent_port}", tls: {{{trusted}}}}}]',
        },
        secrets={
            "backend-ca": f"file:{folder / 'backend-ca.pem'}",
            "other-ca": f"file:{folder / 'other-ca.pem'}",
            "gw-cert": f"file:{mine.cert}",
            "gw-key": f"file:{mine.key}",
        },
    )
    gateway = Gateway(spec.write(folder / "contract"), spec, folder / "log")
    yield Stack(gateway)
    gateway.stop()
    silent.close()
    upstreams.close()


def test_a_verified_upstream_answers(stack: Stack) -> None:
    status, _, body = request(stack.gateway.spec.port, "GET", "/good/x")
    assert status == 200
    assert json.loads(body)["service"] == "tls"


def test_the_gateway_presents_its_certificate_to_an_upstream_that_asks(stack: Stack) -> None:
    assert request(stack.gateway.spec.port, "GET", "/mtls")[0] == 200
    assert request(stack.gateway.spec.port, "GET", "/nocert")[0] == 502  # the same upstream, no certificate


@pytest.mark.parametrize("case", ["wrongca", "system", "badname", "plain"])
def test_an_upstream_that_does_not_verify_is_a_502_naming_the_owner(stack: Stack, case: str) -> None:
    status, _, body = request(stack.gateway.spec.port, "GET", f"/{case}", timeout=10)
    assert status == 502
    answer = json.loads(body)
    assert answer["owner"] == "shop"
    assert "TLS" in answer["reason"]


def test_an_upstream_that_never_answers_the_handshake_times_out(stack: Stack) -> None:
    """The handshake is inside the connect timeout (1s here): a 504, never a request held for good."""
    status, _, body = request(stack.gateway.spec.port, "GET", "/silent", timeout=10)
    assert status == 504
    assert json.loads(body)["owner"] == "shop"
