"""The TLS of a rendered nginx server, as serve terminates it: the certificate (or one per server
name, chosen by SNI), the same protocol and cipher policy (tlspolicy.py), and client certificates
verified against the entrypoint's CAs. nginx reads them all from files.
"""

from __future__ import annotations

from frontdoor.contract.models import Tls
from frontdoor.contract.values import SecretRef
from frontdoor.plan import PlannedEntrypoint
from frontdoor.render.context import RenderError, Site
from frontdoor.render.nginx_syntax import ConfWriter
from frontdoor.tlspolicy import policy as tls_policy


def file_path(site: Site, reference: SecretRef, what: str) -> str:
    resolved = site.resolve(reference)
    if resolved.scheme != "file":
        raise RenderError(
            f"{reference}: nginx reads {what} from files; map it to file:/path "
            f"in environment {site.environment}"
        )
    return resolved.target


def certificate_maps(site: Site, conf: ConfWriter, entrypoint: PlannedEntrypoint) -> None:
    """With ``tls.certificates``, the certificate and key files by the server name the client asked
    for (SNI): an http-level ``map`` each, read by ``ssl_certificate`` with a variable (nginx 1.15.9)."""
    tls = entrypoint.tls
    if tls is None or not tls.certificates:
        return
    for what, default, of in (("cert", tls.cert, "cert"), ("key", tls.key, "key")):
        conf.open(f"map $ssl_server_name {_sni_variable(entrypoint, what)}")
        conf.line("hostnames;")  # "*.example.com" matches any subdomain, as serve chooses
        conf.line(f"default {file_path(site, default, 'TLS certificates and keys')};")
        for certificate in tls.certificates:
            path = file_path(site, getattr(certificate, of), "TLS certificates and keys")
            for host in certificate.hosts:
                conf.line(f"{host} {path};")
        conf.close()
    conf.line("")


def _sni_variable(entrypoint: PlannedEntrypoint, what: str) -> str:
    return f"$fd_tls_{what}_{entrypoint.name.replace('-', '_')}"


def tls_lines(site: Site, conf: ConfWriter, entrypoint: PlannedEntrypoint, tls: Tls) -> None:
    if tls.certificates:  # chosen per handshake from the maps above
        conf.line(f"ssl_certificate {_sni_variable(entrypoint, 'cert')};")
        conf.line(f"ssl_certificate_key {_sni_variable(entrypoint, 'key')};")
    else:
        conf.line(f"ssl_certificate {file_path(site, tls.cert, 'TLS certificates and keys')};")
        conf.line(f"ssl_certificate_key {file_path(site, tls.key, 'TLS certificates and keys')};")
    chosen = tls_policy(tls.min_version)  # the same policy serve applies (tlspolicy.py)
    conf.line("ssl_protocols " + " ".join(chosen.protocols) + ";")
    if chosen.tls12_suites:
        conf.line(f"ssl_ciphers {chosen.openssl_ciphers};")
    conf.line(f"ssl_ecdh_curve {chosen.openssl_groups};")
    conf.line("ssl_prefer_server_ciphers off;")
    conf.line("ssl_session_cache shared:frontdoor_tls:10m;")
    if tls.client_auth is not None:
        # mutual TLS as serve does it: the CA's chain verified, the certificate passed to the authz
        conf.line(f"ssl_client_certificate {file_path(site, tls.client_auth.ca, 'client CAs')};")
        conf.line(f"ssl_verify_client {'on' if tls.client_auth.mode == 'required' else 'optional'};")
