"""The TLS policy of a serve entrypoint, judged by sslyze against Mozilla's profiles and by clients that
offer only what the policy refuses.

sslyze pins cryptography below the version frontdoor's test venv uses, so it lives in its own venv,
.venv-sslyze (``make sslyze``; built here on first use when it is missing)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from frontdoor.contract.load import load_contract
from frontdoor.render import RenderOptions, render
from frontdoor.tlspolicy import GROUPS, TLS12_SUITES, TLS13_SUITES, policy

from .conftest import SHOP
from .harness import ContractSpec, Gateway, Upstreams

ROOT = Path(__file__).resolve().parent.parent
SSLYZE = ROOT / ".venv-sslyze" / "bin" / "sslyze"
_SSLYZE_CURVE = {"X25519": "X25519", "P-256": "secp256r1", "P-384": "secp384r1"}


@pytest.fixture(scope="module")
def sslyze() -> Path:
    if not (SSLYZE.parent.parent / ".installed").exists():
        subprocess.run(["make", "-s", "sslyze"], cwd=ROOT, check=True)
    return SSLYZE


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


class CA:
    """A certificate authority and a server certificate as Mozilla's profiles want them: ECDSA P-256, less
    than 90 days (modern), a non-critical subjectAltName (trustme marks it critical beside a subject, which
    sslyze's path validation refuses, and gives centuries of validity)."""

    def __init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "frontdoor test CA")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def write(self, path: Path) -> None:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cert_file: Path, key_file: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def _serve(ca: CA, tmp_path: Path, version: str) -> tuple[Gateway, Upstreams]:
    upstreams = Upstreams()
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    ca.issue(cert_file, key_file)
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        tls=(cert_file, key_file, version),
    )
    return Gateway(spec.write(tmp_path / "contract"), spec, tmp_path / "log"), upstreams


@pytest.fixture(params=["1.2", "1.3"])
def entrypoint(request: pytest.FixtureRequest, ca: CA, tmp_path: Path) -> Iterator[tuple[str, int]]:
    gateway, upstreams = _serve(ca, tmp_path, request.param)
    try:
        yield request.param, gateway.spec.port
    finally:
        gateway.stop()
        upstreams.close()


def test_sslyze_finds_the_mozilla_profile(
    sslyze: Path, ca: CA, entrypoint: tuple[str, int], tmp_path: Path
) -> None:
    version, port = entrypoint
    profile = policy(version).mozilla_profile
    report, trusted = tmp_path / "sslyze.json", tmp_path / "ca.pem"
    ca.write(trusted)  # the test's CA: the certificate's path must validate
    run = subprocess.run(
        [
            str(sslyze),
            f"--mozilla_config={profile}",
            f"--certinfo_ca_file={trusted}",
            f"--json_out={report}",
            f"127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the verdict is read below, with sslyze's output in the message
    )
    # sslyze exits 1 when a server is not compliant, and prints the verdict
    assert run.returncode == 0 and f"{port}: OK - Compliant." in run.stdout, run.stdout + run.stderr
    # what the scan saw accepted: exactly the policy's suites and groups
    result = json.loads(report.read_text())["server_scan_results"][0]["scan_result"]
    accepted = {
        suite["cipher_suite"]["name"]
        for key in ("tls_1_2_cipher_suites", "tls_1_3_cipher_suites")
        for suite in result[key]["result"]["accepted_cipher_suites"]
    }
    ecdsa = {s.iana for s in policy(version).tls12_suites if "_ECDSA_" in s.iana}  # the key is ECDSA
    assert accepted == ecdsa | set(TLS13_SUITES)
    curves = {curve["name"] for curve in result["elliptic_curves"]["result"]["supported_curves"]}
    assert curves == {"X25519", "secp256r1", "secp384r1"} == {_SSLYZE_CURVE[g.openssl] for g in GROUPS}


def _handshake(port: int, context: ssl.SSLContext) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        tls.do_handshake()


def _client(maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = maximum
    return context


def test_a_client_offering_only_cbc_suites_or_rsa_key_exchange_is_refused(ca: CA, tmp_path: Path) -> None:
    gateway, upstreams = _serve(ca, tmp_path, "1.2")
    try:
        for suites in (
            "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA",
            "AES128-GCM-SHA256:AES256-SHA",
        ):
            old = _client(ssl.TLSVersion.TLSv1_2)
            old.set_ciphers(suites)
            with pytest.raises(ssl.SSLError):
                _handshake(gateway.spec.port, old)
        for suite in TLS12_SUITES[::2]:  # the ECDSA ones: trustme's key is ECDSA
            one = _client(ssl.TLSVersion.TLSv1_2)
            one.set_ciphers(suite.openssl)
            _handshake(gateway.spec.port, one)
    finally:
        gateway.stop()
        upstreams.close()


def test_the_groups_are_the_policys(ca: CA, tmp_path: Path) -> None:
    from frontdoor.proxy.tlsgroups import set_groups

    gateway, upstreams = _serve(ca, tmp_path, "1.2")
    try:
        for group in ("X448", "P-521"):
            outside = _client()
            assert set_groups(outside, group)
            with pytest.raises(ssl.SSLError):
                _handshake(gateway.spec.port, outside)
        for allowed in GROUPS:
            inside = _client()
            assert set_groups(inside, allowed.openssl)
            _handshake(gateway.spec.port, inside)
    finally:
        gateway.stop()
        upstreams.close()


# --- the same policy in every rendered target ------------------------------------------------------


def _rendered(target: str) -> dict[str, str]:
    result = load_contract(SHOP)
    assert result.valid
    return render(result.contract, "prod", target, RenderOptions())


def _objects(files: dict[str, str], kind: str) -> list[dict[str, Any]]:
    return [
        d
        for name, text in files.items()
        if name.endswith(".yaml") and not name.startswith("alertmanager/")
        for d in yaml.safe_load_all(text)
        if d is not None and d.get("kind") == kind
    ]


def test_every_target_carries_the_policy_serve_applies() -> None:
    edge = load_contract(SHOP).contract
    assert edge is not None
    floors = {
        e.name: e.tls.min_version
        for d in edge.edges_for("prod")
        for e in d.spec.entrypoints
        if e.tls is not None
    }
    assert set(floors.values()) == {"1.2", "1.3"}  # the example exercises both profiles
    intermediate = [s.openssl for s in TLS12_SUITES]
    nginx = _rendered("nginx")["nginx.conf"]
    assert "ssl_ciphers " + ":".join(intermediate) + ";" in nginx
    assert nginx.count("ssl_ecdh_curve X25519:P-256:P-384;") == len(floors)
    assert "ssl_protocols TLSv1.3;" in nginx and "ssl_protocols TLSv1.2 TLSv1.3;" in nginx
    policies = {
        p["metadata"]["name"]: p["spec"]["tls"]
        for p in _objects(_rendered("gateway-api"), "ClientTrafficPolicy")
    }
    assert len(policies) == len(floors)
    for tls in policies.values():
        assert tls["ecdhCurves"] == ["X25519", "P-256", "P-384"]
        assert tls.get("ciphers", []) == (intermediate if tls["minVersion"] == "1.2" else [])
    assert sorted(t["minVersion"] for t in policies.values()) == sorted(floors.values())
    options = [o["spec"] for o in _objects(_rendered("traefik"), "TLSOption")]
    assert sorted(o["minVersion"] for o in options) == ["VersionTLS12", "VersionTLS13"]
    for option in options:
        assert option["curvePreferences"] == ["X25519", "CurveP256", "CurveP384"]
        expected = [s.iana for s in TLS12_SUITES] if option["minVersion"] == "VersionTLS12" else []
        assert option.get("cipherSuites", []) == expected
    (controller,) = _objects(_rendered("ingress-nginx"), "ConfigMap")[-1:]
    assert controller["metadata"] == controller["metadata"] | {
        "name": "ingress-nginx-controller",
        "namespace": "ingress-nginx",
    }
    assert controller["data"] == {
        "ssl-protocols": "TLSv1.2 TLSv1.3",  # the lowest floor: one setting for the whole controller
        "ssl-ciphers": ":".join(intermediate),
        "ssl-ecdh-curve": "X25519:P-256:P-384",
    }
