"""The bytes of a check's answer, per dialect, sans-IO.

An allow is a 200 with the identity headers; a denial is the gateway's JSON error with
``X-Frontdoor-Deny``. nginx's ``auth_request`` accepts only 2xx, 401 and 403 from the auth service and
turns anything else into a 500, so for nginx every other denial becomes a 403 that names its kind.
nginx also never sees the check's body, and routes by what the check says: for the nginx dialect an
allow names the chosen route's service and the path serve would send upstream, and a denial carries
serve's JSON body in a header (render/authz_api.py).

Cookies: an allow carries the request's ``Cookie`` without the gateway's own cookies, which the
ingress puts on the upstream request in place of the browser's, so the sealed session never reaches
the upstream, as with serve. When none are left the answer has no ``Cookie``: nginx and Traefik then
send none; Envoy's ext_authz would keep the browser's, so for the envoy dialect the answer names it in
``x-envoy-auth-headers-to-remove`` instead (read by Envoy's HTTP ext_authz client on a 200 only; it
removes the named headers from the upstream request). Nothing else of the check request is echoed:
the other answer lines are the gateway's own, under names fixed here and in the stages. nginx reads
only the first ``Set-Cookie`` of an answer (1.22; later versions join them into one line, which
browsers cannot read), so for the nginx dialect each Set-Cookie of an allow (a session split over
several cookies, refreshed or with its idle deadline moved) is also sent as
``X-Frontdoor-Set-Cookie-N``, which the rendered nginx.conf adds to the response one by one.
"""

from __future__ import annotations

from frontdoor.access.cookies import OWN_PREFIX, without_cookies
from frontdoor.authz.decide import Outcome
from frontdoor.http.fields import Field
from frontdoor.http.messages import error_body, error_response
from frontdoor.http.paths import strip_route_prefix
from frontdoor.policy.denykind import DenyKind

# The identity an ingress copies onto the upstream request; each always present on an allow, empty when
# it does not apply, so that copying it overwrites whatever the client sent under that name.
IDENTITY = (b"x-frontdoor-subject", b"x-frontdoor-scopes", b"x-frontdoor-client", b"x-frontdoor-issuer")
_CANONICAL = {name: b"-".join(p.capitalize() for p in name.split(b"-")) for name in IDENTITY}
_ALLOW = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n"
_ALLOW_ANONYMOUS = _ALLOW + b"".join(_CANONICAL[name] + b": \r\n" for name in IDENTITY)
_NGINX_STATUSES = frozenset({401, 403})
#: the dialects whose ingress copies the answer's Cookie onto the upstream request (render/ wires it:
#: Envoy Gateway's ``headersToBackend`` lists ``cookie``)
_COOKIE_DIALECTS = frozenset({"nginx", "traefik", "envoy"})
#: Envoy (HTTP ext_authz service): the request headers to remove before the request goes upstream
_ENVOY_REMOVE_COOKIE = b"x-envoy-auth-headers-to-remove: cookie\r\n"


def upstream_cookie(values: list[bytes]) -> bytes | None:
    """The request's Cookie for the upstream: the browser's cookies without the gateway's own (the
    sealed session never reaches the upstream); None when none are left."""
    joined = b"; ".join(values)
    if OWN_PREFIX not in joined:
        return joined or None
    return without_cookies(joined, OWN_PREFIX)


def _cookie_lines(outcome: Outcome, extra: bytes) -> list[bytes]:
    """What an allow says about cookies besides ``extra`` (the stages' response lines, which carry a
    session's Set-Cookie), for the dialects whose ingress acts on it: the upstream's Cookie (absent
    when nothing is left, which removes the header; for Envoy, which would keep it, the header is
    named to be removed), and for nginx each Set-Cookie numbered."""
    original, admission = outcome.original, outcome.admission
    if original is None or admission is None or original.dialect not in _COOKIE_DIALECTS:
        return []
    lines = []
    sent = [v for n, v in admission.head.headers if len(n) == 6 and n.lower() == b"cookie"]
    kept = upstream_cookie(sent) if sent else None
    if kept is not None:
        lines.append(b"cookie: " + kept + b"\r\n")
    elif sent and original.dialect == "envoy":
        lines.append(_ENVOY_REMOVE_COOKIE)
    if original.dialect == "nginx" and b"set-cookie" in extra:
        cookies = [v for n, v in admission.response_fields() if n.lower() == b"set-cookie"]
        lines.extend(b"x-frontdoor-set-cookie-%d: %b\r\n" % (i, v) for i, v in enumerate(cookies, 1))
    return lines


def _nginx_extra(extra: bytes) -> bytes:
    """The stages' response lines with one Set-Cookie only, the first: an nginx reading
    ``$upstream_http_set_cookie`` (ingress-nginx's ``auth-always-set-cookie``) takes the first, or
    joins them all into one line a browser misreads (nginx 1.23 and later); the rendered nginx.conf
    reads the numbered ones."""
    lines = extra.split(b"\r\n")[:-1]
    cookies = [i for i, line in enumerate(lines) if line[:11].lower() == b"set-cookie:"]
    kept = [line for i, line in enumerate(lines) if i not in cookies[1:]]
    return b"".join(line + b"\r\n" for line in kept)


def allow(outcome: Outcome, close: bool) -> bytes:
    admission = outcome.admission
    upstream = admission.upstream_headers if admission is not None else None
    extra = admission.response_head if admission is not None else b""
    if upstream:
        given = {name.lower(): value for name, value in upstream}
        parts = [_ALLOW]
        parts.extend(_CANONICAL[name] + b": " + given.pop(name, b"") + b"\r\n" for name in IDENTITY)
        parts.extend(name + b": " + value + b"\r\n" for name, value in given.items())
    else:
        parts = [_ALLOW_ANONYMOUS]
    original = outcome.original
    if extra:
        nginx = original is not None and original.dialect == "nginx" and b"set-cookie" in extra
        parts.append(_nginx_extra(extra) if nginx else extra)
    parts.extend(_cookie_lines(outcome, extra))
    if original is not None and original.dialect == "nginx" and admission is not None:
        route = admission.route
        path = strip_route_prefix(admission.path, route.path.path) if route.strip_prefix else admission.path
        parts.append(
            b"x-frontdoor-service: %s\r\nx-frontdoor-path: %s\r\n" % (route.service.encode(), path.encode())
        )
    parts.append(b"connection: close\r\n\r\n" if close else b"\r\n")
    return b"".join(parts)


def answer_status(outcome: Outcome, dialect: str | None) -> int:
    """The status the ingress is given: the decision's, except what nginx cannot take."""
    status = outcome.status
    if dialect == "nginx" and status != 200 and status not in _NGINX_STATUSES:
        # a browser to send to sign in: a 401 whose Location the rendered nginx.conf redirects to
        return 401 if outcome.kind == DenyKind.SIGN_IN else 403
    return status


def deny(
    outcome: Outcome,
    dialect: str | None,
    request_id: str,
    close: bool,
    head_only: bool,
) -> bytes:
    status = answer_status(outcome, dialect)
    headers: tuple[Field, ...] = (*outcome.headers, (b"x-frontdoor-deny", outcome.kind.encode("ascii")))
    admission = outcome.admission
    if admission is not None and admission.response_head:
        headers += tuple(admission.response_fields())
    owner = outcome.route.owner if outcome.route is not None else outcome.owner or None
    if dialect == "nginx":
        headers += ((b"x-frontdoor-body", error_body(outcome.status, outcome.reason, request_id, owner)),)
    return error_response(
        status,
        outcome.reason,
        request_id,
        owner,
        close=close,
        extra_headers=headers,
        head_only=head_only,
    )
