"""How an ingress describes the request it asks about, sans-IO: a check request in, the original out.

- nginx ``auth_request`` / ingress-nginx ``auth-url``: ``X-Original-Method`` and ``X-Original-URI``
  (or the full URL ``X-Original-Url``); the host is the URL's authority, else ``Host``.
- Traefik ForwardAuth: ``X-Forwarded-Method``, ``X-Forwarded-Host``, ``X-Forwarded-Uri``.
- Envoy ``ext_authz`` (HTTP service): the check request is the original, its path behind a prefix.

The client certificate the ingress verified (mutual TLS) comes in a header of the dialect: nginx's
``$ssl_client_escaped_cert`` in ``Ssl-Client-Cert`` (what the rendered nginx and ingress-nginx set),
Traefik's ``X-Forwarded-Tls-Client-Cert`` (its passTLSClientCert middleware, after the rendered
Middleware removed a client's own), Envoy's ``x-forwarded-client-cert`` (XFCC, policy/xfcc.py). Each
ingress overwrites its own header, or removes it when the client sent no certificate, so only the
header of the dialect read is believed.

A proxy passes the client's own headers on to the check, so a client can add the headers of a dialect
its ingress does not speak: the auto-detection refuses a check carrying two dialects' headers, and a
pinned dialect reads only its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from frontdoor.http.h1 import RequestHead
from frontdoor.memo import Memo

Dialect = Literal["nginx", "traefik", "envoy"]
DIALECTS: tuple[str, ...] = ("auto", "nginx", "traefik", "envoy")

_NGINX = (b"x-original-uri", b"x-original-url", b"x-original-method")
_TRAEFIK = (b"x-forwarded-uri", b"x-forwarded-method", b"x-forwarded-host")
_READ = frozenset((*_NGINX, *_TRAEFIK))
#: where each dialect's ingress puts the client certificate it verified
CERTIFICATE_HEADER: Final[dict[str, bytes]] = {
    "nginx": b"ssl-client-cert",
    "traefik": b"x-forwarded-tls-client-cert",
    "envoy": b"x-forwarded-client-cert",
}
_METHOD = re.compile(r"^[A-Z]{1,20}$")  # what llhttp would have parsed as a method for serve
_URL = re.compile(r"^(https?)://([^/?#]+)([^#]*)", re.IGNORECASE)
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(:\d{1,5})?$")


class BadCheck(ValueError):
    """The check request does not describe a request: answered 403 ``bad-check``."""


@dataclass(frozen=True, slots=True)
class Original:
    """The request an ingress asks about."""

    dialect: Dialect
    method: str
    host: str
    target: str  # path and query, as the client sent them (not normalized yet)


def read_original(head: RequestHead, dialect: str = "auto", path_prefix: str = "") -> Original:
    """The original request of ``head``, per ``dialect`` (one of DIALECTS). Raises BadCheck."""
    found: dict[bytes, str] = {}
    for name, value in head.headers:
        lower = name.lower()
        if lower in _READ:
            if lower in found:
                raise BadCheck(f"the check request has more than one {lower.decode()} header")
            found[lower] = value.decode("latin-1").strip()
    if dialect == "auto":
        nginx = any(name in found for name in _NGINX)
        traefik = b"x-forwarded-uri" in found
        if nginx and traefik:
            raise BadCheck("the check request has both nginx and Traefik headers; pin --dialect")
        dialect = "nginx" if nginx else "traefik" if traefik else "envoy"
    if dialect == "nginx":
        return _nginx(head, found)
    if dialect == "traefik":
        return _traefik(found)
    if dialect == "envoy":
        return _envoy(head, path_prefix)
    raise ValueError(f"unknown dialect {dialect!r}")


def has_dialect_headers(head: RequestHead) -> bool:
    """Whether an nginx or Traefik check could be meant (probes have none of these headers)."""
    return any(name.lower() in _READ for name, _ in head.headers)


def _nginx(head: RequestHead, found: dict[bytes, str]) -> Original:
    method = _method(found.get(b"x-original-method"), "X-Original-Method")
    uri, url = found.get(b"x-original-uri"), found.get(b"x-original-url")
    if uri is not None and url is not None:
        # each is set by one kind of nginx configuration, and the other then comes from the client
        raise BadCheck("the check request has both X-Original-URI and X-Original-Url")
    if url is not None:
        match = _URL.match(url)
        if match is None:
            raise BadCheck("X-Original-Url is not an absolute http(s) URL")
        return Original("nginx", method, _host(match.group(2), "X-Original-Url"), match.group(3) or "/")
    if not uri:
        raise BadCheck("the check request has no X-Original-URI or X-Original-Url")
    return Original("nginx", method, _host(head.host, "Host"), _origin_form(uri, "X-Original-URI"))


def _traefik(found: dict[bytes, str]) -> Original:
    method = _method(found.get(b"x-forwarded-method"), "X-Forwarded-Method")
    uri = found.get(b"x-forwarded-uri")
    if not uri:
        raise BadCheck("the check request has no X-Forwarded-Uri")
    host = found.get(b"x-forwarded-host")
    if host is None:
        raise BadCheck("the check request has no X-Forwarded-Host")
    return Original("traefik", method, _host(host, "X-Forwarded-Host"), _origin_form(uri, "X-Forwarded-Uri"))


def _envoy(head: RequestHead, prefix: str) -> Original:
    target = head.target
    if prefix:
        rest = target[len(prefix) :]
        if not target.startswith(prefix) or (rest and rest[0] not in "/?"):
            raise BadCheck(f"the check path is not under the path prefix {prefix}")
        target = rest if rest.startswith("/") else "/" + rest
    return Original("envoy", head.method, head.host, target)


def _method(value: str | None, header: str) -> str:
    if not value:
        raise BadCheck(f"the check request has no {header}")
    if not _valid(_METHOD, value):
        raise BadCheck(f"{header} is not a request method")
    return value


def _host(value: str, header: str) -> str:
    if not _valid(_HOST, value):
        raise BadCheck(f"{header} is not a valid host")
    return value


# A few distinct methods and hosts: each is matched once (a bounded memo, so clients cannot grow it).
_VALID: Final[Memo[tuple[str, str], bool]] = Memo(1024)


def _valid(pattern: re.Pattern[str], value: str) -> bool:
    key = (pattern.pattern, value)
    valid = _VALID.get(key)
    if valid is None:
        valid = _VALID.keep(key, pattern.match(value) is not None)
    return valid


def _origin_form(uri: str, header: str) -> str:
    """A request URI as the ingress saw it: origin-form, or absolute-form reduced to its path."""
    if uri.startswith("/"):
        return uri
    match = _URL.match(uri)
    if match is None:
        raise BadCheck(f"{header} is not a request target")
    return match.group(3) or "/"


def certificate_header(head: RequestHead, dialect: Dialect) -> bytes | None:
    """The value of ``dialect``'s client certificate header, if the ingress set one. Raises BadCheck."""
    wanted = CERTIFICATE_HEADER.get(dialect)
    if wanted is None:
        return None
    values = [value for name, value in head.headers if len(name) == len(wanted) and name.lower() == wanted]
    if len(values) > 1:
        raise BadCheck(f"the check request has more than one {wanted.decode()} header")
    return values[0] if values and values[0].strip() else None
