"""The bytes of a check's answer, per dialect, sans-IO.

An allow is a 200 with the identity headers; a denial is the gateway's JSON error with
``X-Frontdoor-Deny``. nginx's ``auth_request`` accepts only 2xx, 401 and 403 from the auth service and
turns anything else into a 500, so for nginx every other denial becomes a 403 that names its kind.
nginx also never sees the check's body, and routes by what the check says: for the nginx dialect an
allow names the chosen route's service and the path serve would send upstream, and a denial carries
serve's JSON body in a header (render/authz_api.py).
"""

from __future__ import annotations

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
    if extra:
        parts.append(extra)
    original = outcome.original
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
