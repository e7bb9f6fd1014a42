"""https upstreams through the rendered nginx, with real nginx, real TLS (trustme) and the authz beside it:
each upstream verified as serve verifies it (its CA, its server name, the gateway's client certificate
where it asks for one), and every verification failure a 502 with serve's JSON body, never an
unverified connection. The same upstreams as tests/test_upstream_tls.py, which proves serve."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from frontdoor.contract.load import load_contract
from frontdoor.render import RenderError, RenderOptions, render

from .authz_support import process_env, start_authz
from .harness import ContractSpec, Upstreams, request
from .pki import client_certificate
from .test_render_nginx import NGINX, Nginx, render_conf
from .test_upstream_tls import CASES, UPSTREAM_SERVICES, tls_upstream

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)")


@dataclass
class Stack:
    port: int
    conf: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("nginx-upstream-tls")
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
    trusted = "ca: secret:backend-ca, server_name: backend.internal"
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        services=UPSTREAM_SERVICES,
        upstreams={
            "good": f'[{{url: "https://127.0.0.1:{port}", tls: {{{trusted}}}}}]',
            "wrongca": f'[{{url: "https://127.0.0.1:{port}", tls: {{ca: secret:other-ca, server_name: backend.internal}}}}]',
            # the system's store does not know the test CA (nginx checks a name: localhost, not the address)
            "system": f'["https://localhost:{port}"]',
            "badname": f'[{{url: "https://127.0.0.1:{port}", tls: {{ca: secret:backend-ca, server_name: other.internal}}}}]',
            "mtls": f'[{{url: "https://127.0.0.1:{strict_port}", tls: {{{trusted}, cert: secret:gw-cert, key: secret:gw-key}}}}]',
            "nocert": f'[{{url: "https://127.0.0.1:{strict_port}", tls: {{{trusted}}}}}]',
            "plain": f'[{{url: "https://127.0.0.1:{upstreams.start("plain")}", tls: {{{trusted}}}}}]',
            "silent": f'[{{url: "https://127.0.0.1:{upstreams.start("silent")}", tls: {{{trusted}}}}}]',
        },
        secrets={
            "backend-ca": f"file:{folder / 'backend-ca.pem'}",
            "other-ca": f"file:{folder / 'other-ca.pem'}",
            "gw-cert": f"file:{mine.cert}",
            "gw-key": f"file:{mine.key}",
        },
    )
    contract = spec.write(folder / "contract")
    authz, authz_port = start_authz(contract, process_env(folder), folder / "authz.log", "--dialect", "nginx")
    conf = render_conf(contract, authz_port, folder)
    nginx = Nginx(folder, conf, spec.port)
    yield Stack(spec.port, conf.read_text())
    nginx.stop()
    authz.stop()
    upstreams.close()


def test_the_conf_verifies_each_service_as_its_tls_says(stack: Stack) -> None:
    assert "proxy_ssl_verify off" not in stack.conf
    assert stack.conf.count("proxy_ssl_verify on;") == stack.conf.count("proxy_ssl_trusted_certificate ")
    assert "good backend.internal;" in stack.conf and "system localhost;" in stack.conf  # proxy_ssl_name


def test_a_verified_upstream_answers(stack: Stack) -> None:
    status, _, body = request(stack.port, "GET", "/good/x")
    assert status == 200
    assert json.loads(body)["service"] == "tls"


def test_nginx_presents_the_gateway_certificate_to_an_upstream_that_asks(stack: Stack) -> None:
    assert request(stack.port, "GET", "/mtls")[0] == 200
    assert request(stack.port, "GET", "/nocert")[0] == 502  # the same upstream, no certificate


@pytest.mark.parametrize("case", ["wrongca", "system", "badname", "plain"])
def test_an_upstream_that_does_not_verify_is_serves_502(stack: Stack, case: str) -> None:
    status, headers, body = request(stack.port, "GET", f"/{case}", timeout=10)
    assert status == 502
    answer = json.loads(body)  # serve's JSON, never nginx's HTML page
    assert answer["status"] == 502 and answer["reason"] == "the upstream could not be reached"
    assert answer["owner"] == "shop"  # the route's owner, as serve names it
    assert headers["x-request-id"] == answer["request_id"]


def test_a_plain_route_is_still_proxied(stack: Stack) -> None:
    """The services without TLS go through the plain named location."""
    assert request(stack.port, "GET", "/shop")[0] == 200


def test_an_ip_upstream_without_server_name_is_refused(tmp_path: Path) -> None:
    """nginx checks a DNS name, never an address against the certificate's IP addresses as serve does."""
    spec = ContractSpec(
        shop=[(9, 1)],
        services=UPSTREAM_SERVICES,
        upstreams=dict.fromkeys(CASES, '["https://127.0.0.1:9"]'),
    )
    result = load_contract(spec.write(tmp_path / "contract"))
    assert result.valid, result.findings
    with pytest.raises(RenderError, match=r"nginx verifies an upstream's certificate by DNS name only"):
        render(result.contract, "dev", "nginx", RenderOptions())
