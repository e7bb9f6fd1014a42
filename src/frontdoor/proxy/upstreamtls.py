"""TLS to https:// upstreams: the certificate verified (the system's trust store, or the CAs a secret
holds), the server name sent (SNI) and checked, and optionally the gateway's own client certificate.

A verification failure is a failed connection, answered 502 naming the route's owner
(proxy/failures.py UPSTREAM_TLS); nothing falls back to an unverified or plain connection.
"""

from __future__ import annotations

import functools
import ssl
import tempfile
from pathlib import Path

from frontdoor.contract.models import Environment, UpstreamTls
from frontdoor.errors import FrontdoorError
from frontdoor.secretstore import SecretUnavailable, read_secret, secret_file


@functools.cache
def system_context() -> ssl.SSLContext:
    """For https:// upstreams without ``tls``: the system's trust store, certificate and name verified."""
    return _verifying(None)


def _verifying(authorities: str | None) -> ssl.SSLContext:
    # create_default_context: CERT_REQUIRED, check_hostname; with cadata, only those CAs are trusted
    context = ssl.create_default_context(cadata=authorities)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])  # upstreams speak HTTP/1.1 (docs/gateway.md)
    return context


def upstream_context(tls: UpstreamTls, environment: Environment) -> ssl.SSLContext:
    """The client context of an upstream with ``tls``; raises FrontdoorError naming the reference."""
    try:
        authorities = read_secret(tls.ca, environment).decode("ascii") if tls.ca is not None else None
        context = _verifying(authorities)
    except (SecretUnavailable, UnicodeDecodeError, ssl.SSLError) as exc:
        raise FrontdoorError(f"cannot load the upstream CA {tls.ca}: {exc}") from None
    if tls.cert is not None and tls.key is not None:
        try:
            # env: secrets are written to a private file only for as long as OpenSSL reads them
            with tempfile.TemporaryDirectory(prefix="frontdoor-tls-") as scratch:
                cert = secret_file(tls.cert, environment, Path(scratch))
                key = secret_file(tls.key, environment, Path(scratch))
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise FrontdoorError(
                f"cannot load the upstream client certificate {tls.cert} with key {tls.key}: {exc}"
            ) from None
    return context
