"""Envoy's ``x-forwarded-client-cert`` (XFCC): the client certificate Envoy verified, as ``authz`` reads
it from a trusted Envoy (Envoy Gateway's ClientTrafficPolicy ``xForwardedClientCert``, rendered as
``SanitizeSet`` with ``Cert``: Envoy replaces whatever a client sent, and removes it without a
certificate).

The header is a comma-separated list of elements, one per proxy that verified a client; an element is
``key=value`` pairs separated by semicolons, a value in double quotes when it holds ``,``, ``;`` or
``=`` (a quote inside it escaped with a backslash). Of an element, ``Cert`` (the URL-encoded PEM) is read
when present, else ``Subject`` and every ``URI``; ``By`` and ``Hash`` name Envoy's own certificate and
the client's digest and are not needed. Only one element is accepted: with several, which proxy's
client is meant would be a guess, and a guess must not choose an API client.
"""

from __future__ import annotations

import re

from frontdoor.policy.clientcert import (
    CertificateUnreadable,
    ClientCertificate,
    canonical_subject,
    from_header,
)

#: Envoy's subjects are RFC 2253 (``CN=a,O=b``); older releases wrote OpenSSL's ``/O=b/CN=a``
_SLASH_PART = re.compile(r"/(?=[A-Za-z][A-Za-z0-9.]*=)")


def _split(text: str, separator: str) -> list[str]:
    """``text`` cut at ``separator`` outside double quotes. Envoy escapes only a quote inside a quoted
    value (``\\"``), never a backslash: the backslashes of an RFC 2253 subject are its own."""
    parts: list[str] = []
    current: list[str] = []
    quoted, previous = False, ""
    for char in text:
        if char == '"' and not (quoted and previous == "\\"):
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current, previous = [], ""
            continue
        current.append(char)
        previous = char
    if quoted:
        raise CertificateUnreadable("x-forwarded-client-cert has an unterminated quoted value")
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _subject(value: str) -> str:
    if value.startswith("/"):  # /C=US/O=b/CN=a: most specific last, the other way round from RFC 4514
        value = ",".join(reversed([p for p in _SLASH_PART.split(value) if p]))
    try:
        return canonical_subject(value)
    except ValueError:
        raise CertificateUnreadable(
            "x-forwarded-client-cert has a Subject that is no distinguished name"
        ) from None


def from_xfcc(value: bytes) -> ClientCertificate:
    """The one client certificate an XFCC header describes; raises CertificateUnreadable."""
    try:
        text = value.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CertificateUnreadable("x-forwarded-client-cert is not ASCII") from None
    elements = [e for e in _split(text, ",") if e.strip()]
    if len(elements) != 1:
        raise CertificateUnreadable(
            f"x-forwarded-client-cert describes {len(elements)} clients; one is expected (SanitizeSet)"
        )
    fields: dict[str, list[str]] = {}
    for pair in _split(elements[0], ";"):
        key, equals, raw = pair.strip().partition("=")
        if not equals:
            raise CertificateUnreadable("x-forwarded-client-cert has a field without a value")
        fields.setdefault(key.lower(), []).append(_unquote(raw.strip()))
    if "cert" in fields:
        if len(fields["cert"]) > 1:
            raise CertificateUnreadable("x-forwarded-client-cert has more than one Cert")
        return from_header(fields["cert"][0].encode("ascii"))
    if "subject" not in fields and "uri" not in fields:
        raise CertificateUnreadable("x-forwarded-client-cert names neither Cert, Subject nor URI")
    subjects = fields.get("subject", [])
    if len(subjects) > 1:
        raise CertificateUnreadable("x-forwarded-client-cert has more than one Subject")
    subject = _subject(subjects[0]) if subjects and subjects[0] else ""
    return ClientCertificate(subject, tuple(u for u in fields.get("uri", []) if u))
