"""Target ``nginx``: one ``nginx.conf`` for a VM, with every request admitted by ``frontdoor authz``.

- a ``server`` per entrypoint (entrypoints sharing an address are virtual hosts; a default server
  answers 404, or refuses the TLS handshake, for any other host), TLS from the files the Environment
  maps the certificate references to, HSTS, and ``set_real_ip_from`` for trusted proxies;
- an ``upstream`` per service from the Environment, weights included (weight 0: ``down``);
- one ``location /`` per server that asks ``frontdoor authz`` about every request (``auth_request``),
  public ones included. The authz routes with serve's own router (Gateway API precedence, a method
  falling back to a shorter path), decides access, rate limits and the kill switch, and answers with
  the route's service and the path serve would send upstream (normalized, the prefix stripped where
  the route asks); nginx proxies there. So nginx cannot choose another route than serve, and the
  upstream gets serve's path, never the raw one. The identity the authz answers with replaces any
  ``X-Frontdoor-*`` header the client sent; where browsers sign in, the ``Cookie`` it answers with (the
  browser's, without the sealed session) replaces the browser's, and a refreshed session's cookies
  come back one header each (nginx reads one ``Set-Cookie`` of an auth answer);
- every denial, the authz's and nginx's own, answered with serve's status, its JSON body and
  ``X-Frontdoor-Deny``;
- the Edge's body and header limits, timeouts and retries.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from frontdoor.contract.models import AccessRule
from frontdoor.http.messages import HSTS
from frontdoor.plan import PlannedEntrypoint
from frontdoor.render import authz_api
from frontdoor.render.context import RenderError, Site
from frontdoor.render.nginx_errors import (
    DENIED_LOCATION,
    OWNER_VARIABLE,
    UNAUTHORIZED_LOCATION,
    denied_locations,
    error_body,
    own_error_locations,
    own_error_pages,
)
from frontdoor.render.nginx_log import access_log_lines
from frontdoor.render.nginx_syntax import ConfWriter, answer_variable, duration, host_port
from frontdoor.render.nginx_tls import certificate_maps, tls_lines
from frontdoor.render.nginx_upstream_tls import (
    LOCATION_VARIABLE,
    PLAIN_PROFILE,
    Profile,
    UpstreamTls,
    profile_lines,
    upstream_maps,
    upstream_tls,
)

AUTHZ_LOCATION = "/_frontdoor/authz"  # internal: a client asking for it gets 404
#: what a denial may carry besides its kind, for the status it is turned back into
_DENY_HEADERS = (authz_api.DENY_HEADER, "Allow", "Retry-After", "WWW-Authenticate")
#: what an allow carries for the client (protection/headers.py): serve adds them to the admitted response
_ALLOW_HEADERS = ("RateLimit", "RateLimit-Policy")
AUTHZ_UPSTREAM = "frontdoor_authz"
#: the upstream and path the authz chose, read from its answer
SERVICE_VARIABLE = "$fd_service"
PATH_VARIABLE = "$fd_path"
UPSTREAM_VARIABLE = "$fd_upstream"
#: browser sign-in (docs/access.md): the paths the authz answers itself, and what its answers carry
SIGN_IN_PATHS = authz_api.SIGN_IN_PATHS
#: room for the head of an authz answer that carries a session: up to four cookies of about 3.9 KB, which
#: an allow repeats numbered (nginx's default, one memory page, holds about one)
SIGN_IN_BUFFER = "32k"
SIGN_IN_HEADERS = ("Location", authz_api.UPSTREAM_COOKIE_HEADER, *authz_api.SET_COOKIE_HEADERS)


def upstream_name(service: str) -> str:
    return f"service_{service}"


def render_nginx(site: Site) -> dict[str, str]:
    plan = site.plan
    protection = plan.edge.spec.protection
    authz = urlsplit(site.options.authz_url)
    if authz.scheme != "http" or not authz.hostname or not authz.port:
        raise RenderError(f"--authz-url {site.options.authz_url}: expected http://HOST:PORT")
    conf = ConfWriter()
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
    conf.line(f"client_header_timeout {duration(protection.timeouts.header)};")
    conf.line(f"client_body_timeout {duration(protection.timeouts.body)};")
    conf.line(f"keepalive_timeout {duration(protection.timeouts.idle)};")
    # a client that takes none of its response for the idle timeout is cut off, as serve's stall timeout
    conf.line(f"send_timeout {duration(protection.timeouts.idle)};")
    conf.line(f"proxy_connect_timeout {duration(protection.timeouts.connect)};")
    conf.line(f"proxy_read_timeout {duration(protection.timeouts.upstream)};")
    conf.line(f"proxy_send_timeout {duration(protection.timeouts.upstream)};")
    retry = "error timeout" + ("" if protection.retries.only_idempotent else " non_idempotent")
    conf.line(f"proxy_next_upstream {retry};")
    conf.line(f"proxy_next_upstream_tries {protection.retries.attempts};")
    conf.line("")
    conf.open(f"upstream {AUTHZ_UPSTREAM}")
    conf.line(f"server {host_port(authz.hostname, authz.port)};")
    conf.line("keepalive 16;")
    conf.close()
    schemes: dict[str, str] = {}
    services = site.exposed_services()
    for service in services:
        pool = site.upstreams(service)
        if len({u.url.scheme for u in pool}) > 1:
            raise RenderError(f"service {service} mixes http and https upstreams; use one scheme per service")
        schemes[service] = pool[0].url.scheme
        conf.line("")
        conf.open(f"upstream {upstream_name(service)}")
        for upstream in pool:
            address = host_port(upstream.url.host, upstream.url.port)
            conf.line(
                f"server {address} down;"
                if upstream.weight == 0
                else f"server {address} weight={upstream.weight};"
            )
        conf.line("keepalive 32;")
        conf.close()
    conf.line("")
    # the authz names the service; an unknown name (never from a matching authz) proxies nowhere
    conf.open(f"map {SERVICE_VARIABLE} {UPSTREAM_VARIABLE}")
    conf.line('default "";')
    for service in services:
        conf.line(f"{service} {schemes[service]}://{upstream_name(service)};")
    conf.close()
    conf.line("")
    conf.open(f"map {SERVICE_VARIABLE} {OWNER_VARIABLE}")
    conf.line(f"default {site.platform_team};")
    for service in services:
        conf.line(f"{service} {plan.service_owners[service]};")
    conf.close()
    tls = upstream_tls(site, schemes)  # https: a named location per TLS profile (nginx_upstream_tls.py)
    upstream_maps(conf, tls, SERVICE_VARIABLE)
    by_address: dict[str, list[PlannedEntrypoint]] = {}
    for entrypoint in plan.entrypoints:
        by_address.setdefault(str(entrypoint.listen), []).append(entrypoint)
    for address in sorted(by_address):
        entrypoints = by_address[address]
        for entrypoint in entrypoints:
            conf.line("")
            _server(site, conf, entrypoint, tls)
        if not any("*" in e.hosts for e in entrypoints):
            conf.line("")
            _default_server(site, conf, entrypoints[0])
    conf.close()
    return {"nginx.conf": conf.text()}


def _listen(entrypoint: PlannedEntrypoint, default: bool) -> str:
    return (
        f"listen {entrypoint.listen}"
        # HTTP/2 to clients on TLS, as serve offers it (ALPN h2); the "listen ... http2" form works on
        # the nginx of every supported distribution (1.25.1 adds "http2 on" and warns, still serving it)
        + (" ssl http2" if entrypoint.tls else "")
        + (" default_server" if default else "")
        + ";"
    )


def _server(site: Site, conf: ConfWriter, entrypoint: PlannedEntrypoint, tls: UpstreamTls) -> None:
    certificate_maps(site, conf, entrypoint)
    conf.open("server")
    conf.line(f"# entrypoint {entrypoint.name}")
    conf.line(_listen(entrypoint, "*" in entrypoint.hosts))
    # "*.shop.test" as it is: nginx's ".shop.test" would match the bare domain too, which serve does not
    names = [h for h in entrypoint.hosts if h != "*"]
    conf.line(f"server_name {' '.join(names) if names else '_'};")
    hsts = entrypoint.sends_hsts
    if entrypoint.tls is not None:
        tls_lines(site, conf, entrypoint, entrypoint.tls)
        if hsts:
            conf.line(f'add_header Strict-Transport-Security "{HSTS}" always;')
    for network in entrypoint.trusted_proxies:
        conf.line(f"set_real_ip_from {network};")
    if entrypoint.trusted_proxies:
        conf.line("real_ip_header X-Forwarded-For;")
        conf.line("real_ip_recursive on;")
    # what nginx refuses itself, before any location, answered as serve answers it
    own_error_pages(conf)
    conf.line("")
    conf.open(f"location = {AUTHZ_LOCATION}")
    conf.line("internal;")
    conf.line(f"proxy_pass http://{AUTHZ_UPSTREAM}{authz_api.CHECK_PATH};")
    conf.line("proxy_pass_request_body off;")
    conf.line('proxy_set_header Content-Length "";')
    for name, value in authz_api.NGINX_REQUEST_HEADERS.items():
        conf.line(f"proxy_set_header {name} {value};")
    # always set: empty (no certificate, no TLS) it is not sent, so a client's own header never passes
    conf.line(f"proxy_set_header {authz_api.NGINX_CERTIFICATE_HEADER} $ssl_client_escaped_cert;")
    _forwarding(conf)
    signs_in = bool(site.sign_in_providers())
    if signs_in:
        _sign_in_buffers(conf, "an allow carrying a session's cookies")
    conf.close()
    if signs_in:
        _sign_in_locations(conf)
    conf.line("")
    conf.open("location /")
    conf.line("# the routes, chosen by the authz as serve chooses them (method, service, access):")
    for route in entrypoint.routes:
        strip = " strip_prefix" if route.strip_prefix else ""
        conf.line(f"#   {route.path} {route.method_text} -> {route.service}{strip} ({_access(route.access)})")
    conf.line(f"auth_request {AUTHZ_LOCATION};")
    answered = (
        *authz_api.IDENTITY_HEADERS,
        *_ALLOW_HEADERS,
        *_DENY_HEADERS,
        authz_api.SERVICE_HEADER,
        authz_api.PATH_HEADER,
        authz_api.BODY_HEADER,
        *(SIGN_IN_HEADERS if signs_in else ()),
    )
    for header in answered:
        received = "$upstream_http_" + header.lower().replace("-", "_")
        conf.line(f"auth_request_set {answer_variable(header)} {received};")
    if not tls.dispatches:
        _session_cookie(conf, hsts, signs_in)
    conf.line(f"error_page 401 = {UNAUTHORIZED_LOCATION};")
    conf.line(f"error_page 403 = {DENIED_LOCATION};")
    own_error_pages(conf)  # a block with error_page of its own inherits none from the server
    if not tls.dispatches:
        _proxy(conf, hsts, signs_in, None)
        conf.close()
    else:
        # admitted: on to the service's TLS profile. try_files is the first phase after access (a
        # return or rewrite would run before the authz is asked); its file never exists
        conf.line("root /nonexistent/frontdoor;")
        conf.line(f"try_files /.frontdoor-upstream {LOCATION_VARIABLE};")
        conf.close()
        profiles: list[tuple[str, Profile | None]] = [(PLAIN_PROFILE, None)]
        profiles += [(profile.location(index), profile) for index, profile in enumerate(tls.profiles)]
        for location, profile in profiles:
            conf.line("")
            conf.open(f"location {location}")
            _session_cookie(conf, hsts, signs_in)
            own_error_pages(conf)
            _proxy(conf, hsts, signs_in, profile)
            conf.close()
    denied_locations(conf, hsts, site.platform_team, signs_in)
    conf.close()


def _session_cookie(conf: ConfWriter, hsts: bool, signs_in: bool) -> None:
    if signs_in:
        # a session the authz refreshed, or whose idle deadline it moved: every one of its cookies to
        # the browser, each from a header of its own (nginx reads only the first Set-Cookie of an
        # answer), whatever the upstream's status (add_header in a location replaces the server's, so
        # HSTS is repeated; an empty value adds nothing)
        for header in authz_api.SET_COOKIE_HEADERS:
            conf.line(f"add_header Set-Cookie {answer_variable(header)} always;")
        if hsts:
            conf.line(f'add_header Strict-Transport-Security "{HSTS}" always;')


def _proxy(conf: ConfWriter, hsts: bool, signs_in: bool, profile: Profile | None) -> None:
    """An admitted request to the upstream the authz chose, over TLS as ``profile`` says."""
    # the authz's rate-limit fields onto the admitted response, as serve sends them (an empty value
    # sends nothing); add_header here replaces the server's, so HSTS is repeated
    for header in _ALLOW_HEADERS:
        conf.line(f"add_header {header} {answer_variable(header)} always;")
    if hsts:
        conf.line(f'add_header Strict-Transport-Security "{HSTS}" always;')
    for header in authz_api.IDENTITY_HEADERS:
        conf.line(f"proxy_set_header {header} {answer_variable(header)};")
    if signs_in:
        # the browser's cookies as the authz gave them back, without the sealed session (empty: none)
        cookie = authz_api.UPSTREAM_COOKIE_HEADER
        conf.line(f"proxy_set_header {cookie} {answer_variable(cookie)};")
    _forwarding(conf)
    if profile is not None:
        profile_lines(conf, profile)
    # a URL with variables is sent as it is: serve's normalized (and stripped) path, the raw query
    conf.line(f"proxy_pass {UPSTREAM_VARIABLE}{PATH_VARIABLE}$is_args$args;")


def _sign_in_locations(conf: ConfWriter) -> None:
    """Browser sign-in's paths, answered by the authz itself (it keeps the sessions): the browser's
    request as it came, with the scheme and host it used (the callback URL is built from them)."""
    for path in SIGN_IN_PATHS:
        conf.line("")
        conf.open(f"location = {path}")
        conf.line(f"proxy_pass http://{AUTHZ_UPSTREAM};")
        _forwarding(conf, host="$http_host")  # with its port: the callback URL must be the browser's
        _sign_in_buffers(conf, "a callback's answer: a session's cookies")
        conf.close()


def _sign_in_buffers(conf: ConfWriter, why: str) -> None:
    # nginx wants the body's buffers, less one, larger than the busy ones (twice the head's by default);
    # they are taken only as a body needs them, and these answers' bodies are empty or short
    conf.line(f"proxy_buffer_size {SIGN_IN_BUFFER};  # {why}")
    conf.line(f"proxy_buffers 4 {SIGN_IN_BUFFER};")


def _access(access: AccessRule) -> str:
    if access.mode != "rule":
        return access.mode
    parts = [f"scopes {','.join(access.scopes)}"] if access.scopes else []
    parts += [f"claims {','.join(sorted(access.claims))}"] if access.claims else []
    parts += [f"clients {','.join(access.clients)}"] if access.clients else []
    parts += [f"login {access.login}"] if access.login else []
    return "; ".join(parts)


def _forwarding(conf: ConfWriter, host: str = "$host") -> None:
    # proxy_set_header is not inherited into a location that sets any, so each location has them all
    conf.line("proxy_http_version 1.1;")
    conf.line('proxy_set_header Connection "";')
    conf.line(f"proxy_set_header Host {host};")
    conf.line("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    conf.line("proxy_set_header X-Forwarded-Proto $scheme;")
    conf.line("proxy_set_header X-Request-Id $request_id;")


def _default_server(site: Site, conf: ConfWriter, entrypoint: PlannedEntrypoint) -> None:
    """Any other host: serve's 404 (over TLS, the handshake is refused: no certificate fits). A request
    line nginx refuses lands here too (it has no host yet): its error pages are the servers'."""
    conf.open("server")
    conf.line("# any other host: no entrypoint")
    conf.line(_listen(entrypoint, True))
    conf.line("server_name _;")
    if entrypoint.tls is not None:
        conf.line("ssl_reject_handshake on;")
    own_error_pages(conf)
    common = ["X-Request-Id $request_id"]
    conf.open("location /")
    conf.line("default_type application/json;")
    for header in [f"{authz_api.DENY_HEADER} no-route", *common]:
        conf.line(f"add_header {header} always;")
    conf.line(f"return 404 '{error_body(404, 'no route for this host and path', site.platform_team)}';")
    conf.close()
    own_error_locations(conf, common, site.platform_team)
    conf.close()
