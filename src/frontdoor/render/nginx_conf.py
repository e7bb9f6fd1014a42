"""Target ``nginx``: one ``nginx.conf`` for a VM, with every request admitted by ``frontdoor authz``.

- a ``server`` per entrypoint (entrypoints sharing an address are virtual hosts; a default server
  answers 404, or refuses the TLS handshake, for any other host), TLS from the files the Environment
  maps the certificate references to, HSTS, and ``set_real_ip_from`` for trusted proxies;
- an ``upstream`` per service from the Environment, weights included (weight 0: ``down``);
- a ``location`` per route path: ``=/exact`` is ``location = /exact``; a prefix ``/orders`` is
  ``location = /orders`` and ``location /orders/`` (the contract's prefix stops at segment boundaries);
- ``auth_request`` to ``frontdoor authz`` on every location, public ones included (the authz decides
  methods, access, rate limits and the kill switch); the identity it answers with replaces any
  ``X-Frontdoor-*`` header the client sent;
- the Edge's body and header limits, timeouts and retries.
"""

from __future__ import annotations

import ipaddress
import json
import math
from urllib.parse import urlsplit

from frontdoor.contract.models import Tls
from frontdoor.plan import PlannedEntrypoint, PlannedRoute
from frontdoor.render import authz_api
from frontdoor.render.context import RenderError, Site
from frontdoor.render.nginx_log import access_log_lines
from frontdoor.tlspolicy import policy as tls_policy

AUTHZ_LOCATION = "/_frontdoor/authz"  # internal: a client asking for it gets 404
DENIED_LOCATION = "@frontdoor_denied"
#: what a denial may carry besides its kind, for the status it is turned back into
_DENY_HEADERS = (authz_api.DENY_HEADER, "Allow", "Retry-After", "WWW-Authenticate")
AUTHZ_UPSTREAM = "frontdoor_authz"
_HSTS = "max-age=31536000"


def _time(seconds: float) -> str:
    return f"{math.ceil(seconds * 1000)}ms" if seconds != int(seconds) else f"{int(seconds)}s"


def _variable(header: str) -> str:
    return "$fd_" + header.lower().removeprefix("x-frontdoor-").replace("-", "_")


def _address(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def upstream_name(service: str) -> str:
    return f"service_{service}"


class _Conf:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text if text else "")

    def open(self, text: str) -> None:
        self.line(text + " {")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_nginx(site: Site) -> dict[str, str]:
    plan = site.plan
    protection = plan.edge.spec.protection
    authz = urlsplit(site.options.authz_url)
    if authz.scheme != "http" or not authz.hostname or not authz.port:
        raise RenderError(f"--authz-url {site.options.authz_url}: expected http://HOST:PORT")
    conf = _Conf()
    conf.line(f"# Rendered by frontdoor for environment {plan.environment}; re-render instead of editing.")
    conf.line(
        f"# frontdoor authz must run beside it: frontdoor authz DIR --env {plan.environment} "
        f"--listen {authz.hostname}:{authz.port} --dialect nginx"
    )
    conf.line("worker_processes auto;")
    conf.line("error_log stderr warn;")
    conf.line("")
    conf.open("events")
    conf.line("worker_connections 4096;")
    conf.close()
    conf.line("")
    conf.open("http")
    conf.line("server_tokens off;")
    observability = plan.edge.spec.observability
    if observability is not None and observability.access_log is not None:
        for line in access_log_lines(observability.access_log):  # format, headers, redaction (nginx_log.py)
            conf.line(line)
    else:
        conf.line("access_log off;")
    conf.line(f"client_max_body_size {protection.max_request_body};")
    # a request line or one header must fit one buffer: the Edge's header limit is that buffer's size
    conf.line(f"large_client_header_buffers 4 {protection.max_header_bytes};")
    conf.line(f"client_header_timeout {_time(protection.timeouts.header)};")
    conf.line(f"keepalive_timeout {_time(protection.timeouts.idle)};")
    conf.line(f"proxy_connect_timeout {_time(protection.timeouts.connect)};")
    conf.line(f"proxy_read_timeout {_time(protection.timeouts.upstream)};")
    conf.line(f"proxy_send_timeout {_time(protection.timeouts.upstream)};")
    retry = "error timeout" + ("" if protection.retries.only_idempotent else " non_idempotent")
    conf.line(f"proxy_next_upstream {retry};")
    conf.line(f"proxy_next_upstream_tries {protection.retries.attempts};")
    conf.line("")
    conf.open(f"upstream {AUTHZ_UPSTREAM}")
    conf.line(f"server {_address(authz.hostname, authz.port)};")
    conf.line("keepalive 16;")
    conf.close()
    schemes: dict[str, str] = {}
    for service in site.exposed_services():
        pool = site.upstreams(service)
        if len({u.url.scheme for u in pool}) > 1:
            raise RenderError(f"service {service} mixes http and https upstreams; use one scheme per service")
        schemes[service] = pool[0].url.scheme
        conf.line("")
        conf.open(f"upstream {upstream_name(service)}")
        for upstream in pool:
            address = _address(upstream.url.host, upstream.url.port)
            conf.line(
                f"server {address} down;"
                if upstream.weight == 0
                else f"server {address} weight={upstream.weight};"
            )
        conf.line("keepalive 32;")
        conf.close()
    by_address: dict[str, list[PlannedEntrypoint]] = {}
    for entrypoint in plan.entrypoints:
        by_address.setdefault(str(entrypoint.listen), []).append(entrypoint)
    for address in sorted(by_address):
        entrypoints = by_address[address]
        for entrypoint in entrypoints:
            conf.line("")
            _server(site, conf, entrypoint, schemes)
        if not any("*" in e.hosts for e in entrypoints):
            conf.line("")
            _default_server(site, conf, entrypoints[0])
    conf.close()
    return {"nginx.conf": conf.text()}


def _listen(entrypoint: PlannedEntrypoint, default: bool) -> str:
    return (
        f"listen {entrypoint.listen}"
        + (" ssl" if entrypoint.tls else "")
        + (" default_server" if default else "")
        + ";"
    )


def _tls(site: Site, conf: _Conf, tls: Tls) -> None:
    for directive, reference in (("ssl_certificate", tls.cert), ("ssl_certificate_key", tls.key)):
        resolved = site.resolve(reference)
        if resolved.scheme != "file":
            raise RenderError(
                f"{reference}: nginx reads TLS certificates and keys from files; map it to file:/path "
                f"in environment {site.environment}"
            )
        conf.line(f"{directive} {resolved.target};")
    chosen = tls_policy(tls.min_version)  # the same policy serve applies (tlspolicy.py)
    conf.line("ssl_protocols " + " ".join(chosen.protocols) + ";")
    if chosen.tls12_suites:
        conf.line(f"ssl_ciphers {chosen.openssl_ciphers};")
    conf.line(f"ssl_ecdh_curve {chosen.openssl_groups};")
    conf.line("ssl_prefer_server_ciphers off;")
    conf.line("ssl_session_cache shared:frontdoor_tls:10m;")


def _server(site: Site, conf: _Conf, entrypoint: PlannedEntrypoint, schemes: dict[str, str]) -> None:
    conf.open("server")
    conf.line(f"# entrypoint {entrypoint.name}")
    conf.line(_listen(entrypoint, "*" in entrypoint.hosts))
    # "*.shop.test" as it is: nginx's ".shop.test" would match the bare domain too, which serve does not
    names = [h for h in entrypoint.hosts if h != "*"]
    conf.line(f"server_name {' '.join(names) if names else '_'};")
    if entrypoint.tls is not None:
        _tls(site, conf, entrypoint.tls)
        if entrypoint.tls.hsts:
            conf.line(f'add_header Strict-Transport-Security "{_HSTS}" always;')
    for network in entrypoint.trusted_proxies:
        conf.line(f"set_real_ip_from {network};")
    if entrypoint.trusted_proxies:
        conf.line("real_ip_header X-Forwarded-For;")
        conf.line("real_ip_recursive on;")
    conf.line("")
    conf.open(f"location = {AUTHZ_LOCATION}")
    conf.line("internal;")
    conf.line(f"proxy_pass http://{AUTHZ_UPSTREAM}{authz_api.CHECK_PATH};")
    conf.line("proxy_pass_request_body off;")
    conf.line('proxy_set_header Content-Length "";')
    for name, value in authz_api.NGINX_REQUEST_HEADERS.items():
        conf.line(f"proxy_set_header {name} {value};")
    _forwarding(conf)
    conf.close()
    locations = _locations(entrypoint)
    for key in sorted(locations):
        route = locations[key]
        conf.line("")
        conf.open(f"location {key}")
        conf.line(f"# {route.service} (owner {route.owner})")
        conf.line(f"auth_request {AUTHZ_LOCATION};")
        for header in (*authz_api.IDENTITY_HEADERS, *_DENY_HEADERS):
            conf.line(
                f"auth_request_set {_variable(header)} $upstream_http_{header.lower().replace('-', '_')};"
            )
        conf.line(f"error_page 403 = {DENIED_LOCATION};")
        for header in authz_api.IDENTITY_HEADERS:
            conf.line(f"proxy_set_header {header} {_variable(header)};")
        _forwarding(conf)
        scheme = schemes[route.service]
        if scheme == "https":
            conf.line("proxy_ssl_server_name on;")
            conf.line("proxy_ssl_verify on;")
            conf.line("proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;")
        strip = route.strip_prefix and route.path.path != "/"
        # with a URI, nginx replaces the part the location matched: /orders/42 -> /42
        conf.line(f"proxy_pass {scheme}://{upstream_name(route.service)}{'/' if strip else ''};")
        conf.close()
    if "/" not in locations:
        conf.line("")
        conf.open("location /")
        conf.line("default_type application/json;")
        conf.line(f"return 404 '{_body(404, 'Not Found')}';")
        conf.close()
    _denied(conf, entrypoint)
    conf.close()


def _body(status: int, error: str) -> str:
    return json.dumps({"status": status, "error": error}, separators=(",", ":"))


def _denied(conf: _Conf, entrypoint: PlannedEntrypoint) -> None:
    """A 403 from the authz names its kind: answer with the status `serve` gives that kind.

    nginx sets the auth_request_set variables before it acts on the answer, so they survive the
    internal redirect of error_page. add_header in a block replaces the outer ones, so each block
    lists all it sends (HSTS included)."""
    hsts = entrypoint.tls is not None and entrypoint.tls.hsts
    always = [f"{authz_api.DENY_HEADER} {_variable(authz_api.DENY_HEADER)}"]
    if hsts:
        always.append(f'Strict-Transport-Security "{_HSTS}"')
    conf.line("")
    conf.open(f"location {DENIED_LOCATION}")
    conf.line("default_type application/json;")
    for kind, status in sorted(authz_api.NGINX_DENY_STATUS.items()):
        conf.open(f'if ({_variable(authz_api.DENY_HEADER)} = "{kind}")')
        extra = {405: ["Allow $fd_allow"], 429: ["Retry-After $fd_retry_after"]}.get(status, [])
        for header in always + extra:
            conf.line(f"add_header {header} always;")
        conf.line(f"return {status} '{_body(status, _REASONS[status])}';")
        conf.close()
    for header in [*always, "WWW-Authenticate $fd_www_authenticate"]:
        conf.line(f"add_header {header} always;")
    conf.line(f"return 403 '{_body(403, 'Forbidden')}';")
    conf.close()


_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests"}


def _forwarding(conf: _Conf) -> None:
    # proxy_set_header is not inherited into a location that sets any, so each location has them all
    conf.line("proxy_http_version 1.1;")
    conf.line('proxy_set_header Connection "";')
    conf.line("proxy_set_header Host $host;")
    conf.line("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    conf.line("proxy_set_header X-Forwarded-Proto $scheme;")
    conf.line("proxy_set_header X-Request-Id $request_id;")


def _default_server(site: Site, conf: _Conf, entrypoint: PlannedEntrypoint) -> None:
    conf.open("server")
    conf.line("# any other host: no entrypoint")
    conf.line(_listen(entrypoint, True))
    conf.line("server_name _;")
    if entrypoint.tls is not None:
        conf.line("ssl_reject_handshake on;")
    conf.line("return 404;")
    conf.close()


def _locations(entrypoint: PlannedEntrypoint) -> dict[str, PlannedRoute]:
    """nginx location -> the route it serves. Exact routes claim ``= /p`` before a prefix route's."""
    found: dict[str, PlannedRoute] = {}
    ordered = sorted(entrypoint.routes, key=lambda r: (not r.path.exact, r.path.path, r.service, r.index))
    for route in ordered:
        path = route.path.path
        if route.path.exact:
            keys = [f"= {path}"]
        elif path == "/":
            keys = ["/"]
        else:
            keys = [f"= {path}", f"{path}/"]
        for key in keys:
            other = found.get(key)
            if other is None:
                found[key] = route
                continue
            if other.path.exact and not route.path.exact:
                continue  # the exact route owns "= /p"; the prefix keeps "/p/"
            if other.service != route.service:
                raise RenderError(
                    f"entrypoint {entrypoint.name}: services {other.service} and {route.service} share "
                    f"the path {route.path}, told apart only by method; the nginx target cannot route by "
                    "method: use the gateway-api or traefik target"
                )
            if other.strip_prefix != route.strip_prefix:
                raise RenderError(
                    f"service {route.service}: routes on {route.path} differ in strip_prefix; nginx can "
                    "serve one path one way"
                )
    return found
