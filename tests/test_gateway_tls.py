"""TLS termination with certificates made in the test: HSTS, minimum version, and a certificate
replaced on disk that new handshakes pick up without a restart."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from frontdoor.http.messages import HSTS

from .harness import ContractSpec, Gateway, Upstreams


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_gateway(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[Gateway, Path, Path]]:
    upstreams = Upstreams()
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    issued = ca.issue_cert("shop.test", "localhost", "127.0.0.1")
    issued.private_key_pem.write_to_path(str(key_file))
    issued.cert_chain_pems[0].write_to_path(str(cert_file))
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        tls=(cert_file, key_file, "1.2"),
    )
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    yield running, cert_file, key_file
    running.stop()
    upstreams.close()


def _client(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _get(
    port: int, context: ssl.SSLContext, host: str = "shop.test", path: str = "/other/tls"
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _served_certificate(port: int, context: ssl.SSLContext) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="shop.test") as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
        assert certificate is not None
        return certificate


def test_https_with_hsts_and_forwarded_proto(ca: trustme.CA, tls_gateway: tuple[Gateway, Path, Path]) -> None:
    gateway, _, _ = tls_gateway
    context = _client(ca)
    context.check_hostname = False
    status, headers, body = _get(gateway.spec.port, context)
    assert status == 200
    assert headers["strict-transport-security"] == HSTS == "max-age=31536000"  # every target's value
    assert b'"x-forwarded-proto": "https"' in body


def test_plain_http_on_a_tls_port_is_refused(tls_gateway: tuple[Gateway, Path, Path]) -> None:
    gateway, _, _ = tls_gateway
    with socket.create_connection(("127.0.0.1", gateway.spec.port), timeout=5) as sock:
        sock.sendall(b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n")
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            data = b""
    assert b"200 OK" not in data


def test_minimum_version_is_enforced(ca: trustme.CA, tmp_path: Path) -> None:
    upstreams = Upstreams()
    issued = ca.issue_cert("localhost")
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "k.pem"
    issued.private_key_pem.write_to_path(str(key_file))
    issued.cert_chain_pems[0].write_to_path(str(cert_file))
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        tls=(cert_file, key_file, "1.3"),
    )
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    try:
        old = _client(ca)
        old.check_hostname = False
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError):
            _get(spec.port, old)
        modern = _client(ca)
        modern.check_hostname = False
        assert _get(spec.port, modern)[0] == 200
    finally:
        running.stop()
        upstreams.close()


def test_a_new_certificate_is_served_without_restart(
    ca: trustme.CA, tls_gateway: tuple[Gateway, Path, Path]
) -> None:
    gateway, cert_file, key_file = tls_gateway
    context = _client(ca)
    context.check_hostname = False
    first = _served_certificate(gateway.spec.port, context)
    renewed = ca.issue_cert("shop.test", "renewed.shop.test")
    renewed.private_key_pem.write_to_path(str(key_file))
    renewed.cert_chain_pems[0].write_to_path(str(cert_file))
    later = time.time() + 5
    os.utime(cert_file, (later, later))
    os.utime(key_file, (later, later))
    deadline = time.monotonic() + 10
    served = first
    while served == first and time.monotonic() < deadline:
        time.sleep(0.3)
        served = _served_certificate(gateway.spec.port, context)
    assert served != first
    assert served == renewed.cert_chain_pems[0].bytes() or b"renewed" in served


def _pair(ca: trustme.CA, folder: Path, name: str, *hosts: str) -> tuple[Path, Path, bytes]:
    issued = ca.issue_cert(*hosts)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    issued.private_key_pem.write_to_path(str(key_file))
    issued.cert_chain_pems[0].write_to_path(str(cert_file))
    return cert_file, key_file, ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode())


def _served_for(port: int, ca: trustme.CA, server_name: str | None, matching: bool = True) -> bytes:
    """The certificate served for ``server_name``; with ``matching``, it must be valid for that name."""
    context = _client(ca)
    context.check_hostname = server_name is not None and matching
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
        assert certificate is not None
        return certificate


@pytest.fixture
def sni_certificates(
    ca: trustme.CA, tmp_path: Path
) -> Iterator[tuple[Gateway, dict[str, tuple[Path, Path, bytes]]]]:
    pairs = {
        "default": _pair(ca, tmp_path, "default", "shop.test"),
        "api": _pair(ca, tmp_path, "api", "api.shop.test"),
        "eu": _pair(ca, tmp_path, "eu", "*.eu.shop.test"),
        "deep": _pair(ca, tmp_path, "deep", "*.x.eu.shop.test"),
    }
    upstreams = Upstreams()
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        tls=(pairs["default"][0], pairs["default"][1], "1.2"),
        tls_more=(
            ", certificates: ["
            "{hosts: [api.shop.test], cert: secret:api-cert, key: secret:api-key}, "
            '{hosts: ["*.eu.shop.test"], cert: secret:eu-cert, key: secret:eu-key}, '
            '{hosts: ["*.x.eu.shop.test"], cert: secret:deep-cert, key: secret:deep-key}]'
        ),
        secrets={
            **{f"{name}-cert": f"file:{pairs[name][0]}" for name in ("api", "eu", "deep")},
            **{f"{name}-key": f"file:{pairs[name][1]}" for name in ("api", "eu", "deep")},
        },
    )
    running = Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log")
    yield running, pairs
    running.stop()
    upstreams.close()


def test_the_server_name_picks_the_certificate(
    ca: trustme.CA, sni_certificates: tuple[Gateway, dict[str, tuple[Path, Path, bytes]]]
) -> None:
    gateway, pairs = sni_certificates
    port = gateway.spec.port
    assert _served_for(port, ca, "api.shop.test") == pairs["api"][2]
    assert _served_for(port, ca, "API.shop.test") == pairs["api"][2]  # names are case-insensitive
    assert _served_for(port, ca, "a.eu.shop.test") == pairs["eu"][2]
    assert _served_for(port, ca, "a.x.eu.shop.test") == pairs["deep"][2]  # the longest wildcard wins
    assert _served_for(port, ca, "shop.test") == pairs["default"][2]
    assert _served_for(port, ca, "other.test", matching=False) == pairs["default"][2]  # no certificate for it
    assert _served_for(port, ca, None) == pairs["default"][2]  # no SNI at all


def test_a_host_certificate_is_reloaded_without_restart(
    ca: trustme.CA, tmp_path: Path, sni_certificates: tuple[Gateway, dict[str, tuple[Path, Path, bytes]]]
) -> None:
    gateway, pairs = sni_certificates
    first = _served_for(gateway.spec.port, ca, "api.shop.test")
    cert_file, key_file, _ = pairs["api"]
    (tmp_path / "renewed").mkdir()
    new_cert, new_key, renewed = _pair(ca, tmp_path / "renewed", "api", "api.shop.test", "v2.api.shop.test")
    new_key.replace(key_file)
    new_cert.replace(cert_file)
    later = time.time() + 5
    os.utime(cert_file, (later, later))
    os.utime(key_file, (later, later))
    deadline = time.monotonic() + 10
    served = first
    while served == first and time.monotonic() < deadline:
        time.sleep(0.3)
        served = _served_for(gateway.spec.port, ca, "api.shop.test")
    assert served == renewed


def _shared_listener(
    tmp_path: Path, upstreams: Upstreams, first: tuple[Path, Path], second_tls: str, secrets: dict[str, str]
) -> Gateway:
    """A gateway whose entrypoint for shop.test (TLS with ``first``, hsts) shares its port with one for
    other.test and its subdomains, whose tls flow mapping is ``second_tls``."""
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        tls=(first[0], first[1], "1.2"),
        secrets=secrets,
    )
    root = spec.write(tmp_path / "contract")
    edge = (root / "edge.yaml").read_text()
    first_tls = next(line for line in edge.splitlines() if line.strip().startswith("tls: {"))
    second = f"""
    - name: other-site
      listen: "127.0.0.1:{spec.port}"
      hosts: [other.test, "*.other.test"]
      services: ["*"]
      tls: {second_tls}"""
    edge = edge.replace('hosts: ["*"]', "hosts: [shop.test]").replace(first_tls, first_tls + second)
    (root / "edge.yaml").write_text(edge)
    return Gateway(root, spec, tmp_path / "log")


def test_each_entrypoint_on_a_shared_listener_sends_its_own_hsts(ca: trustme.CA, tmp_path: Path) -> None:
    """Two entrypoints on one address, one with hsts and one without (the contract allows it: only the
    handshake's settings must agree): each answer, proxied or the gateway's own, carries the HSTS of the
    entrypoint its Host belongs to, and a Host neither takes gets none."""
    upstreams = Upstreams()
    cert_file, key_file, _ = _pair(ca, tmp_path, "both", "shop.test", "other.test", "127.0.0.1")
    second = '{cert: secret:tls-cert, key: secret:tls-key, min_version: "1.2"}'
    running = _shared_listener(tmp_path, upstreams, (cert_file, key_file), second, {})
    try:
        context = _client(ca)
        for host, path, status, hsts in [
            ("shop.test", "/other/tls", 200, True),
            ("shop.test", "/nowhere", 404, True),  # the gateway's own answer for that entrypoint
            ("other.test", "/other/tls", 200, False),
            ("other.test", "/nowhere", 404, False),
            ("unknown.test", "/other/tls", 404, False),  # no entrypoint takes it: not all have hsts
        ]:
            got, headers, _ = _get(running.spec.port, context, host, path)
            assert got == status, (host, path)
            assert ("strict-transport-security" in headers) == hsts, (host, path, headers)
    finally:
        running.stop()
        upstreams.close()


def test_each_entrypoint_on_a_shared_listener_shows_its_own_certificates(
    ca: trustme.CA, tmp_path: Path
) -> None:
    """The server name picks among the certificates of every entrypoint on the address: each one's own
    pair for its hosts, each one's ``certificates``, and the first's as the default (no name, or a name
    no entrypoint takes), as nginx's server blocks do."""
    upstreams = Upstreams()
    shop = _pair(ca, tmp_path, "shop", "shop.test")
    other = _pair(ca, tmp_path, "other", "other.test", "*.other.test")
    api = _pair(ca, tmp_path, "api", "api.other.test")
    second = (
        '{cert: secret:other-cert, key: secret:other-key, min_version: "1.2", '
        "certificates: [{hosts: [api.other.test], cert: secret:api-cert, key: secret:api-key}]}"
    )
    secrets = {
        "other-cert": f"file:{other[0]}",
        "other-key": f"file:{other[1]}",
        "api-cert": f"file:{api[0]}",
        "api-key": f"file:{api[1]}",
    }
    running = _shared_listener(tmp_path, upstreams, (shop[0], shop[1]), second, secrets)
    try:
        port = running.spec.port
        assert _served_for(port, ca, "shop.test") == shop[2]
        assert _served_for(port, ca, "other.test") == other[2]
        assert _served_for(port, ca, "eu.other.test") == other[2]  # the entrypoint's wildcard host
        assert _served_for(port, ca, "api.other.test") == api[2]  # its certificates list
        assert _served_for(port, ca, "unknown.test", matching=False) == shop[2]
        assert _served_for(port, ca, None) == shop[2]
        # verified by name end to end: a client of other.test gets there with other.test's certificate
        connection = http.client.HTTPSConnection("other.test", port, context=_client(ca), timeout=10)
        connection.sock = _client(ca).wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="other.test"
        )
        try:
            connection.request("GET", "/other/tls")
            assert connection.getresponse().status == 200
        finally:
            connection.close()
    finally:
        running.stop()
        upstreams.close()
