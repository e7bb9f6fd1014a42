"""A client certificate the TLS layer has verified, reduced to what API clients are matched by.

``serve`` reads it from its own handshake (the DER the ssl module hands over); ``authz`` from the header
its ingress sets: nginx's ``$ssl_client_escaped_cert`` (a URL-escaped PEM) or Traefik's
``X-Forwarded-Tls-Client-Cert`` (the base64 body of the PEM, URL-escaped, certificates separated by
commas: the client's comes first). Only the first certificate (the client's own) is read; the chain was
verified by whoever terminated TLS, never here.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from cryptography import x509

_PEM_MARKERS = re.compile(rb"-----(BEGIN|END) CERTIFICATE-----")
_SPACE = re.compile(rb"\s+")


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    subject: str  # RFC 4514, most specific first ("CN=billing,O=Example")
    san_uris: tuple[str, ...]  # the URIs of subjectAltName (SPIFFE ids...)


class CertificateUnreadable(ValueError):
    pass


def canonical_subject(subject: str) -> str:
    """``subject`` as ``from_der`` spells it, whatever its spacing; ValueError if it is no DN."""
    return x509.Name.from_rfc4514_string(subject).rfc4514_string()


def from_der(der: bytes) -> ClientCertificate:
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateUnreadable(f"the client certificate cannot be read: {exc}") from None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = tuple(names.get_values_for_type(x509.UniformResourceIdentifier))
    except x509.ExtensionNotFound:
        uris = ()
    return ClientCertificate(certificate.subject.rfc4514_string(), uris)


def from_header(value: bytes) -> ClientCertificate:
    """The client's certificate from an ingress's header (either form above); raises
    CertificateUnreadable."""
    text = unquote_to_bytes(value.strip())
    first = _PEM_MARKERS.sub(b"", text.split(b",", 1)[0]) if b"BEGIN" not in text else _first_pem(text)
    try:
        der = base64.b64decode(_SPACE.sub(b"", first), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateUnreadable("the client certificate header is not base64") from None
    return from_der(der)


def _first_pem(text: bytes) -> bytes:
    begin = text.find(b"-----BEGIN CERTIFICATE-----")
    end = text.find(b"-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        raise CertificateUnreadable("the client certificate header holds no whole PEM certificate")
    return text[begin + len(b"-----BEGIN CERTIFICATE-----") : end]
