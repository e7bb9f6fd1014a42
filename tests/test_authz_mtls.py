"""Certificate clients behind an ingress: ``frontdoor authz`` reads the client certificate the ingress
verified from its header, believes it only from a trusted peer and only for an entrypoint with
client_auth; and the rendered nginx, with a real nginx doing the handshake, admits a certificate client
by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from .authz_support import process_env, start_authz
from .harness import Upstreams, request
from .pki import Pki, context, get, make_pki, mtls_spec
from .test_render_nginx import NGINX, Nginx, render_conf


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    pool = Upstreams()
    yield pool
    pool.close()


def nginx_check(authz_port: int, path: str, certificate: bytes | None) -> tuple[int, dict[str, str], bytes]:
    """A check as the rendered nginx sends it; the certificate as $ssl_client_escaped_cert spells it."""
    headers = {"Host": "shop.test", "X-Original-URI": path, "X-Original-Method": "GET"}
    if certificate is not None:
        headers["Ssl-Client-Cert"] = quote(certificate.decode(), safe="")
    return request(authz_port, "GET", "/auth", headers)


def traefik_check(authz_port: int, path: str, certificate: bytes) -> int:
    """A check as Traefik's ForwardAuth sends it, after its passTLSClientCert middleware."""
    body = b"".join(line for line in certificate.splitlines() if b"-----" not in line)
    headers = {
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Host": "shop.test",
        "X-Forwarded-Uri": path,
        "X-Forwarded-Tls-Client-Cert": quote(body.decode(), safe=""),
    }
    return request(authz_port, "GET", "/auth", headers)[0]


def test_authz_reads_the_ingress_certificate_from_a_trusted_peer_only(
    pki: Pki, upstreams: Upstreams, tmp_path: Path
) -> None:
    spec = mtls_spec(pki, upstreams.start("shop"), upstreams.start("other"), "required")
    contract = spec.write(tmp_path / "contract")
    trusting, port = start_authz(contract, process_env(tmp_path), tmp_path / "authz.log")
    try:
        status, headers, _ = nginx_check(port, "/batch", pki.batch.pem)
        assert status == 200 and headers["x-frontdoor-client"] == "batch"
        assert traefik_check(port, "/both", pki.auditor.pem) == 200
        assert nginx_check(port, "/batch", None)[0] == 403
        assert nginx_check(port, "/batch", pki.stranger.pem)[0] == 403
    finally:
        trusting.stop()
    # the same check from a peer outside --trusted: a forged certificate header opens nothing
    wary, port = start_authz(
        contract, process_env(tmp_path), tmp_path / "wary.log", "--trusted", "10.0.0.0/8"
    )
    try:
        status, headers, _ = nginx_check(port, "/batch", pki.batch.pem)
        assert status == 403 and headers["x-frontdoor-deny"] == "untrusted-peer"
    finally:
        wary.stop()


def test_authz_ignores_the_header_where_no_client_certificate_is_asked_for(
    pki: Pki, upstreams: Upstreams, tmp_path: Path
) -> None:
    spec = mtls_spec(pki, upstreams.start("shop"), upstreams.start("other"), "required")
    spec.tls_more = ""  # the same entrypoint without client_auth: its ingress never sets the header
    contract = spec.write(tmp_path / "contract")
    authz, port = start_authz(contract, process_env(tmp_path), tmp_path / "authz.log")
    try:
        assert nginx_check(port, "/batch", pki.batch.pem)[0] == 403
    finally:
        authz.stop()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)")
def test_the_rendered_nginx_admits_a_certificate_client_by_name(
    pki: Pki, upstreams: Upstreams, tmp_path: Path
) -> None:
    spec = mtls_spec(pki, upstreams.start("shop"), upstreams.start("other"), "optional")
    contract = spec.write(tmp_path / "contract")
    authz, authz_port = start_authz(
        contract, process_env(tmp_path), tmp_path / "authz.log", "--dialect", "nginx"
    )
    try:
        conf = render_conf(contract, authz_port, tmp_path)
        assert "ssl_verify_client optional;" in conf.read_text()
        nginx = Nginx(tmp_path, conf, spec.port)
        try:
            status, _, body = get(spec.port, context(pki, pki.batch), "/batch")
            assert status == 200
            assert json.loads(body)["headers"]["x-frontdoor-client"] == "batch"
            anonymous = context(pki, None)
            assert get(spec.port, anonymous, "/shop")[0] == 200
            # nginx replaces the header with the certificate it verified: none here
            forged = {"Ssl-Client-Cert": quote(pki.batch.pem.decode(), safe="")}
            assert get(spec.port, anonymous, "/batch", forged)[0] == 403
            assert get(spec.port, context(pki, pki.stranger), "/batch")[0] == 403
        finally:
            nginx.stop()
    finally:
        authz.stop()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)")
def test_the_rendered_nginx_refuses_a_missing_required_certificate(
    pki: Pki, upstreams: Upstreams, tmp_path: Path
) -> None:
    """nginx checks a required certificate after the handshake (serve fails the handshake): a 403 with
    serve's JSON, never nginx's HTML 400."""
    spec = mtls_spec(pki, upstreams.start("shop"), upstreams.start("other"), "required")
    conf = render_conf(spec.write(tmp_path / "contract"), 9, tmp_path)  # no authz is asked: refused first
    assert "ssl_verify_client on;" in conf.read_text()
    nginx = Nginx(tmp_path, conf, spec.port)
    try:
        status, headers, body = get(spec.port, context(pki, None), "/shop")
        assert status == 403
        assert json.loads(body)["reason"] == "this entrypoint needs a client certificate"
        assert headers.get("x-frontdoor-deny") == "access"
    finally:
        nginx.stop()


def envoy_check(authz_port: int, path: str, xfcc: str | None) -> tuple[int, dict[str, str], bytes]:
    """A check as Envoy's ext_authz sends it: the original request, with the XFCC header Envoy Gateway's
    ClientTrafficPolicy (SanitizeSet) set from the handshake."""
    headers = {"Host": "shop.test"}
    if xfcc is not None:
        headers["x-forwarded-client-cert"] = xfcc
    return request(authz_port, "GET", path, headers)


def xfcc_cert(certificate: bytes) -> str:
    """Envoy's XFCC with ``Cert`` (certDetailsToAdd: [Cert]): its By and Hash first, as Envoy writes them."""
    return f'By=spiffe://edge.test/envoy;Hash=0f;Cert="{quote(certificate.decode(), safe="")}"'


def test_authz_reads_envoy_xfcc_from_a_trusted_peer_only(
    pki: Pki, upstreams: Upstreams, tmp_path: Path
) -> None:
    spec = mtls_spec(pki, upstreams.start("shop"), upstreams.start("other"), "optional")
    contract = spec.write(tmp_path / "contract")
    trusting, port = start_authz(
        contract, process_env(tmp_path), tmp_path / "authz.log", "--dialect", "envoy"
    )
    try:
        status, headers, _ = envoy_check(port, "/batch", xfcc_cert(pki.batch.pem))
        assert status == 200 and headers["x-frontdoor-client"] == "batch"  # by its san_uri
        status, headers, _ = envoy_check(port, "/both", xfcc_cert(pki.auditor.pem))
        assert status == 200 and headers["x-frontdoor-client"] == "auditor"  # by its subject
        # the fields form, without Cert: a subject with a comma (quoted) and a URI
        fields = 'Hash=0f;Subject="CN=auditor,O=Example";URI=spiffe://shop.test/batch'
        status, headers, _ = envoy_check(port, "/batch", fields)
        assert status == 200 and headers["x-frontdoor-client"] == "batch"
        status, headers, _ = envoy_check(port, "/both", 'Hash=0f;Subject="CN=auditor,O=Example"')
        assert status == 200 and headers["x-frontdoor-client"] == "auditor"
        assert envoy_check(port, "/batch", 'Subject="CN=auditor,O=Example"')[0] == 403  # not batch
        assert envoy_check(port, "/batch", None)[0] == 403  # no certificate: no certificate client
        assert envoy_check(port, "/batch", xfcc_cert(pki.stranger.pem))[0] == 403
        # two elements (another proxy's client appended): which one is meant would be a guess
        status, headers, _ = envoy_check(port, "/batch", "URI=spiffe://shop.test/batch,URI=spiffe://x/y")
        assert status == 403 and headers["x-frontdoor-deny"] == "bad-check"
        # the other dialects' headers mean nothing to an Envoy check
        nginx_header = {"Host": "shop.test", "Ssl-Client-Cert": quote(pki.batch.pem.decode(), safe="")}
        assert request(port, "GET", "/batch", nginx_header)[0] == 403
    finally:
        trusting.stop()
    wary, port = start_authz(
        contract,
        process_env(tmp_path),
        tmp_path / "wary.log",
        "--dialect",
        "envoy",
        "--trusted",
        "10.0.0.0/8",
    )
    try:
        status, headers, _ = envoy_check(port, "/batch", xfcc_cert(pki.batch.pem))
        assert status == 403 and headers["x-frontdoor-deny"] == "untrusted-peer"
    finally:
        wary.stop()
