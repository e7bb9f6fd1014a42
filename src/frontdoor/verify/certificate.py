"""The caller's client certificate (``--cert``, ``--key``): which API client of the Edge it is.

Matched as serve matches a verified certificate (access/apiclients.py): a subjectAltName URI of the
certificate, else its whole subject, against the clients' ``certificate: {san_uri | subject}``. Only
the contract's side is needed, no secret. A certificate that is no declared client is refused here
(exit 2): every probe made with it would be a false drift or prove nothing.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from frontdoor.contract.models import Edge
from frontdoor.policy.clientcert import canonical_subject, from_der
from frontdoor.verify.credentials import CredentialError


@dataclass(frozen=True)
class ClientCertificateFile:
    client: str  # the API client it identifies
    cert: str
    key: str


def certificate_clients(edge: Edge) -> frozenset[str]:
    """The API clients identified by certificate rather than by key."""
    identity = edge.spec.identity
    clients = identity.api_clients if identity is not None else ()
    return frozenset(c.name for c in clients if c.certificate is not None)


def client_certificate(edge: Edge, cert: str, key: str) -> ClientCertificateFile:
    try:
        pem = Path(cert).read_bytes()
        der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    except (OSError, ValueError) as exc:
        raise CredentialError(f"--cert {cert}: not a readable PEM certificate ({exc})") from None
    try:
        ssl.create_default_context().load_cert_chain(cert, key)  # the key is the certificate's
    except (OSError, ssl.SSLError) as exc:
        raise CredentialError(f"--key {key}: not the key of --cert {cert} ({exc})") from None
    presented = from_der(der)
    identity = edge.spec.identity
    declared = [(c.name, c.certificate) for c in (identity.api_clients if identity is not None else ())]
    # serve's order (ApiClients.recognize): a URI of the certificate first, then its subject
    for uri in presented.san_uris:
        for name, match in declared:
            if match is not None and match.san_uri == uri:
                return ClientCertificateFile(name, cert, key)
    for name, match in declared:
        subject = match.subject if match is not None else None
        if subject is not None and canonical_subject(subject) == presented.subject:
            return ClientCertificateFile(name, cert, key)
    uris = ", ".join(presented.san_uris) or "none"
    raise CredentialError(
        f"--cert: subject {presented.subject!r} (URIs: {uris}) is none of the Edge's certificate clients"
    )
