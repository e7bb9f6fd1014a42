"""Client certificates, per-host certificates and upstream TLS in Kubernetes terms, shared by the
``gateway-api``, ``ingress-nginx`` and ``traefik`` targets.

Every reference becomes a Secret in the rendered namespace (the edge controllers read nothing else):
``ca: secret:partner-ca`` is the Secret ``partner-ca`` with the PEM CAs under ``ca.crt``; a certificate
pair ``cert: secret:eu-tls`` is the ``kubernetes.io/tls`` Secret ``eu-tls`` (its ``key`` reference
names the same Secret's ``tls.key``). An ``env:`` or ``file:`` reference has no Secret to name and is
refused, never dropped: a dropped CA would let every client in, or verify an upstream against the
wrong authorities.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from frontdoor.contract.models import Tls, Upstream, UpstreamTls
from frontdoor.contract.values import SecretRef
from frontdoor.plan import PlannedEntrypoint
from frontdoor.render.context import RenderError

#: how deep a chain the edge follows, as serve's OpenSSL does by default (nginx's own default, 1,
#: would refuse any certificate signed by an intermediate)
VERIFY_DEPTH = 100
#: serve's upstream TLS versions (docs/gateway.md): nginx's proxy default leaves TLS 1.3 out
UPSTREAM_PROTOCOLS = "TLSv1.2 TLSv1.3"


def secret_name(reference: SecretRef, what: str) -> str:
    """The Secret a ``secret:NAME`` reference names on Kubernetes."""
    if reference.scheme != "secret":
        raise RenderError(
            f"{what} {reference}: on Kubernetes the edge reads it from a Secret; "
            "reference it as secret:NAME (the name of the Secret)"
        )
    return reference.target


def client_ca_secret(entrypoint: PlannedEntrypoint) -> str | None:
    """The Secret (``ca.crt``) that verifies the entrypoint's client certificates, if it asks for them."""
    tls = entrypoint.tls
    if tls is None or tls.client_auth is None:
        return None
    return secret_name(tls.client_auth.ca, f"entrypoint {entrypoint.name} tls.client_auth.ca")


def covers(pattern: str, host: str) -> bool:
    """Whether a contract host pattern serves ``host`` (itself a name or a wildcard): ``*`` every one,
    ``*.example.com`` any depth below example.com (never the bare domain), else only itself."""
    if pattern in ("*", host):
        return True
    return pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]


@dataclass(frozen=True)
class HostCertificate:
    host: str  # a name or a wildcard the entrypoint serves
    secret: str  # the kubernetes.io/tls Secret presented for it


def host_certificates(entrypoint: PlannedEntrypoint) -> list[HostCertificate]:
    """``tls.certificates`` as (host, Secret) pairs, for the hosts the entrypoint serves: serve answers
    a name no host of the entrypoint takes with a 404 whichever certificate it presented, so a
    certificate for such a name needs no listener (and must not get one: it would route that name)."""
    tls = entrypoint.tls
    if tls is None:
        return []
    out: list[HostCertificate] = []
    for index, certificate in enumerate(tls.certificates):
        secret = secret_name(certificate.cert, f"entrypoint {entrypoint.name} tls.certificates[{index}].cert")
        out.extend(
            HostCertificate(host, secret)
            for host in certificate.hosts
            if any(covers(pattern, host) for pattern in entrypoint.hosts)
        )
    return out


def certificate_for(tls: Tls, entrypoint: PlannedEntrypoint, host: str, default: str) -> str:
    """The Secret serve presents for ``host`` (SNI): an exact certificate host, else the longest
    wildcard that covers it, else the default pair."""
    chosen = [(c.host, c.secret) for c in host_certificates(entrypoint) if covers(c.host, host)]
    exact = [secret for name, secret in chosen if name == host]
    if exact:
        return exact[0]
    wildcards = sorted(chosen, key=lambda pair: -len(pair[0]))
    return wildcards[0][1] if wildcards else default


def verified_name(upstream: Upstream, service: str, target: str) -> str:
    """The name an upstream's certificate must carry (and the SNI sent): ``tls.server_name``, else the
    URL's host. The controllers built on nginx and Envoy check a DNS name only, so an IP upstream
    without ``server_name`` (which serve verifies against the certificate's IP addresses) is refused."""
    tls = upstream.tls
    if tls is not None and tls.server_name:
        return tls.server_name
    host = upstream.url.host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    raise RenderError(
        f"upstream {upstream.url} of {service}: {target} verifies an upstream's certificate by DNS name "
        "only, not by IP address; give it tls.server_name (the name its certificate carries)"
    )


def upstream_ca_secret(tls: UpstreamTls | None, upstream: Upstream, service: str) -> str | None:
    """The Secret (``ca.crt``) an upstream is verified against; None: the system's store."""
    if tls is None or tls.ca is None:
        return None
    return secret_name(tls.ca, f"upstream {upstream.url} of {service} tls.ca")


def upstream_client_secret(tls: UpstreamTls | None, upstream: Upstream, service: str) -> str | None:
    """The ``kubernetes.io/tls`` Secret the edge proves itself with to an upstream (mutual TLS)."""
    if tls is None or tls.cert is None:
        return None
    return secret_name(tls.cert, f"upstream {upstream.url} of {service} tls.cert")
