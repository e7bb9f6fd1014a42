"""What the mutual-TLS tests share: client certificates signed by a trustme CA, with what trustme cannot
put in one (a URI in subjectAltName, such as a SPIFFE id) or already expired; a contract with two
certificate clients; an HTTPS client for the server name ``shop.test`` on 127.0.0.1."""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from frontdoor.demo.documents import join, service

from .harness import ContractSpec


@dataclass(frozen=True)
class ClientPair:
    cert: Path
    key: Path
    pem: bytes  # the certificate alone, as an ingress would pass it on


def client_certificate(
    ca: trustme.CA,
    folder: Path,
    name: str,
    *,
    uri: str | None = None,
    organization: str = "Example",
    expired: bool = False,
) -> ClientPair:
    """A client certificate ``CN=name,O=organization`` (and ``uri`` in its subjectAltName) issued by
    ``ca``, written to ``folder/name.crt`` and ``folder/name.key``."""
    issuer = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    issuer_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    not_after = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                ]
            )
        )
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if uri is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
    certificate = builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ClientPair(cert_file, key_file, pem)


SERVICES = join(
    service(
        "shop",
        "shop",
        """
        - {path: /shop, access: public}
        - {path: /batch, access: {clients: [batch]}}
        - {path: /both, access: {clients: [batch, auditor]}}
        """,
    ),
    service("other", "shop", "- {path: /other, access: public}"),
)
IDENTITY = (
    '{api_clients: [{name: batch, certificate: {san_uri: "spiffe://shop.test/batch"}}, '
    '{name: auditor, certificate: {subject: "CN=auditor,O=Example"}}]}'
)


@dataclass
class Pki:
    server_ca: trustme.CA
    client_ca: trustme.CA
    folder: Path
    batch: ClientPair  # spiffe://shop.test/batch
    auditor: ClientPair  # CN=auditor,O=Example, no URI
    stranger: ClientPair  # the client CA's, but neither URI nor subject of a client
    foreign: ClientPair  # batch's URI, from another CA
    expired: ClientPair  # batch's URI, the right CA, expired


def make_pki(folder: Path) -> Pki:
    server_ca, client_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    issued = server_ca.issue_cert("shop.test")
    issued.private_key_pem.write_to_path(str(folder / "server.key"))
    issued.cert_chain_pems[0].write_to_path(str(folder / "server.crt"))
    client_ca.cert_pem.write_to_path(str(folder / "client-ca.pem"))
    return Pki(
        server_ca,
        client_ca,
        folder,
        client_certificate(client_ca, folder, "batch", uri="spiffe://shop.test/batch"),
        client_certificate(client_ca, folder, "auditor"),
        client_certificate(client_ca, folder, "stranger", uri="spiffe://shop.test/stranger"),
        client_certificate(other_ca, folder, "foreign", uri="spiffe://shop.test/batch"),
        client_certificate(client_ca, folder, "expired", uri="spiffe://shop.test/batch", expired=True),
    )


def context(pki: Pki, pair: ClientPair | None) -> ssl.SSLContext:
    client = ssl.create_default_context()
    pki.server_ca.configure_trust(client)
    if pair is not None:
        client.load_cert_chain(pair.cert, pair.key)
    return client


def get(
    port: int, client: ssl.SSLContext, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    # TLS for the name the certificate is for, on a connection to 127.0.0.1
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sock = client.wrap_socket(raw, server_hostname="shop.test")
    try:
        connection.request("GET", path, headers={"Host": "shop.test", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def mtls_spec(pki: Pki, shop: int, other: int, mode: str) -> ContractSpec:
    """The harness's contract with client_auth on its TLS entrypoint and the two certificate clients."""
    return ContractSpec(
        shop=[(shop, 1)],
        other=[other],
        tls=(pki.folder / "server.crt", pki.folder / "server.key", "1.2"),
        tls_more=f", client_auth: {{ca: secret:client-ca, mode: {mode}}}",
        secrets={"client-ca": f"file:{pki.folder / 'client-ca.pem'}"},
        services=SERVICES,
        identity=IDENTITY,
    )
