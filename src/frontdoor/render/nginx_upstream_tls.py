"""https upstreams in a rendered nginx, verified as serve verifies them (docs/gateway.md#upstreams):
against the CAs of the upstream's ``tls.ca`` (else the system's store), by ``tls.server_name`` or the
URL's host (also the SNI), with the gateway's client certificate of ``tls.cert``/``tls.key`` when the
upstream asks for one; a certificate that does not verify is nginx's 502, answered as serve's.

nginx reads the CA file (``proxy_ssl_trusted_certificate``) once per location, and the service is
known only after ``auth_request`` (the authz chooses it). So with https upstreams ``location /`` asks
the authz and then hands the request (``try_files``, the first phase after access) to a named location
per TLS profile: one per distinct CA and client certificate, each with its own trusted file. The name
to verify varies per service and is a variable (``proxy_ssl_name``); so is nothing else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from frontdoor.render.context import RenderError, Site
from frontdoor.render.nginx_syntax import ConfWriter
from frontdoor.render.nginx_tls import file_path

#: what location / hands a request to, by the service the authz chose
LOCATION_VARIABLE = "$fd_location"
#: the name the upstream's certificate must carry, by service
SSL_NAME_VARIABLE = "$fd_ssl_name"
#: the system's store, as serve uses it when an upstream names no CA (Debian's bundle)
SYSTEM_STORE = "/etc/ssl/certs/ca-certificates.crt"
#: as serve's OpenSSL verifies (nginx's default depth, 1, would refuse a certificate from an intermediate)
VERIFY_DEPTH = 100
PLAIN_PROFILE = "@frontdoor_upstream"


@dataclass(frozen=True)
class Profile:
    ca: str  # the trusted CA file
    cert: str | None  # the gateway's client certificate and key files, for mutual TLS
    key: str | None

    def location(self, index: int) -> str:
        return f"@frontdoor_upstream_tls_{index}"


def _name(site: Site, service: str) -> str:
    """The one name every upstream of ``service`` is verified by (nginx checks a DNS name, never an
    IP address against the certificate's IP addresses, as serve would)."""
    names = set()
    for upstream in site.upstreams(service):
        tls = upstream.tls
        name = tls.server_name if tls is not None and tls.server_name else upstream.url.host
        try:
            ipaddress.ip_address(name)
        except ValueError:
            names.add(name)
            continue
        raise RenderError(
            f"upstream {upstream.url} of {service}: nginx verifies an upstream's certificate by DNS name "
            "only, not by IP address; give it tls.server_name (the name its certificate carries)"
        )
    if len(names) > 1:
        raise RenderError(
            f"service {service}: nginx verifies every upstream of a service by one name, and its upstreams' "
            f"certificates would carry {', '.join(sorted(names))}; give them one tls.server_name"
        )
    return names.pop()


def _profile(site: Site, service: str) -> Profile:
    pool = site.upstreams(service)
    if len({u.tls for u in pool}) > 1:
        raise RenderError(
            f"service {service}: nginx verifies every upstream of a service alike, and its https upstreams "
            "differ in tls; give them one tls block"
        )
    tls, where = pool[0].tls, f"upstream {pool[0].url} of {service}"
    if tls is None:
        return Profile(SYSTEM_STORE, None, None)
    ca = file_path(site, tls.ca, f"the CAs of {where}") if tls.ca is not None else SYSTEM_STORE
    if tls.cert is None or tls.key is None:
        return Profile(ca, None, None)
    return Profile(
        ca,
        file_path(site, tls.cert, f"the client certificate of {where}"),
        file_path(site, tls.key, f"the client key of {where}"),
    )


@dataclass(frozen=True)
class UpstreamTls:
    """The https services' profiles and names; empty when every upstream is plain HTTP."""

    profiles: tuple[Profile, ...]
    by_service: dict[str, str]  # service -> the named location that proxies it
    names: dict[str, str]  # https service -> the name to verify

    @property
    def dispatches(self) -> bool:
        return bool(self.profiles)


def upstream_tls(site: Site, schemes: dict[str, str]) -> UpstreamTls:
    profiles: list[Profile] = []
    by_service: dict[str, str] = {}
    names: dict[str, str] = {}
    for service, scheme in sorted(schemes.items()):
        if scheme != "https":
            by_service[service] = PLAIN_PROFILE
            continue
        profile = _profile(site, service)
        if profile not in profiles:
            profiles.append(profile)
        by_service[service] = profile.location(profiles.index(profile))
        names[service] = _name(site, service)
    return UpstreamTls(tuple(profiles), by_service if profiles else {}, names)


def upstream_maps(conf: ConfWriter, tls: UpstreamTls, service_variable: str) -> None:
    """http-level maps from the service the authz chose: its named location and its verified name."""
    if not tls.dispatches:
        return
    conf.line("")
    conf.open(f"map {service_variable} {LOCATION_VARIABLE}")
    conf.line(f"default {PLAIN_PROFILE};")  # an unknown service: proxied nowhere, as without TLS
    for service, location in sorted(tls.by_service.items()):
        conf.line(f"{service} {location};")
    conf.close()
    conf.line("")
    conf.open(f"map {service_variable} {SSL_NAME_VARIABLE}")
    conf.line('default "";')
    for service, name in sorted(tls.names.items()):
        conf.line(f"{service} {name};")
    conf.close()


def profile_lines(conf: ConfWriter, profile: Profile) -> None:
    conf.line("proxy_ssl_server_name on;")
    conf.line(f"proxy_ssl_name {SSL_NAME_VARIABLE};")
    conf.line("proxy_ssl_verify on;")
    conf.line(f"proxy_ssl_verify_depth {VERIFY_DEPTH};")
    conf.line("proxy_ssl_protocols TLSv1.2 TLSv1.3;")  # serve's; nginx 1.22's default has no TLS 1.3
    conf.line(f"proxy_ssl_trusted_certificate {profile.ca};")
    if profile.cert is not None and profile.key is not None:
        conf.line(f"proxy_ssl_certificate {profile.cert};")
        conf.line(f"proxy_ssl_certificate_key {profile.key};")
