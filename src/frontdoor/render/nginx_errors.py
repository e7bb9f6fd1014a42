"""What a rendered nginx answers other than the upstream's response, answered as serve answers it: the
authz's denials (serve's status for the deny kind, its JSON body, ``X-Frontdoor-Deny``), the
sign-in redirect, and nginx's own refusals (a head too large, the authz unreachable, ...).
"""

from __future__ import annotations

import json

from frontdoor.http.messages import HSTS, phrase
from frontdoor.render import authz_api
from frontdoor.render.nginx_syntax import ConfWriter, answer_variable

DENIED_LOCATION = "@frontdoor_denied"
UNAUTHORIZED_LOCATION = "@frontdoor_unauthorized"
ERROR_LOCATION = "/_frontdoor/error"  # internal: nginx's own errors, answered as serve answers them
BODY_VARIABLE = "$fd_body"  # the JSON body of a denial, as the authz wrote it
#: the owner of the service the authz chose (a map; the platform team before any was chosen): an
#: upstream that cannot be reached or does not answer names it, as serve names the route's owner
OWNER_VARIABLE = "$fd_owner"
_UPSTREAM_ERRORS = (502, 504)


def error_body(status: int, reason: str, owner: str) -> str:
    """serve's JSON error body (http/messages.py), for an error nginx answers without the authz: one
    without a route names the platform team."""
    fields = {"status": status, "error": phrase(status), "reason": reason, "request_id": "", "owner": owner}
    return json.dumps(fields, separators=(",", ":")).replace('"request_id":""', '"request_id":"$request_id"')


#: nginx's own answers -> (the status serve answers, X-Frontdoor-Deny or "", serve's reason). nginx says
#: 494 for a header over its buffers (serve: 431), 500 when the authz cannot be asked (serve: 503 when a
#: stage fails). A 404 is only /_frontdoor/authz asked from outside. An upstream's own errors pass as
#: they are (proxy_intercept_errors is off).
OWN_ERRORS = {
    400: (400, "bad-request", "the request is malformed"),
    404: (404, "no-route", "no route for this host and path"),
    413: (413, "body-too-large", "the request body is larger than max_request_body"),
    414: (414, "header-too-large", "the request target is too long"),
    494: (431, "header-too-large", "the request head is larger than max_header_bytes"),
    # client_auth: a certificate that did not verify, none where one is required (serve fails the
    # handshake instead; nginx can only answer after it)
    495: (403, "access", "the client certificate did not verify"),
    496: (403, "access", "this entrypoint needs a client certificate"),
    500: (503, "error", "the gateway could not decide this request"),
    502: (502, "", "the upstream could not be reached"),
    504: (504, "", "the upstream did not answer in time"),
}


def own_error_pages(conf: ConfWriter) -> None:
    # a URI, not a named location: a request line nginx refused has no URI to carry to a named one
    for status in sorted(OWN_ERRORS):
        conf.line(f"error_page {status} = {ERROR_LOCATION}/{status};")


def denied_locations(conf: ConfWriter, hsts: bool, owner: str, signs_in: bool = False) -> None:
    """Every denial with serve's status, serve's JSON body and X-Frontdoor-Deny.

    A 403 from the authz names its kind: it is answered with the status `serve` gives that kind, and
    the body the authz put in X-Frontdoor-Body. nginx sets the auth_request_set variables before it
    acts on the answer, so they survive the internal redirect of error_page. add_header in a block
    replaces the outer ones, so each block lists all it sends (HSTS included)."""
    common = ["X-Request-Id $request_id"] + ([f'Strict-Transport-Security "{HSTS}"'] if hsts else [])
    deny = f"{authz_api.DENY_HEADER} {answer_variable(authz_api.DENY_HEADER)}"
    conf.line("")
    conf.open(f"location {DENIED_LOCATION}")
    conf.line("default_type application/json;")
    for kind, status in sorted(authz_api.NGINX_DENY_STATUS.items()):
        conf.open(f'if ({answer_variable(authz_api.DENY_HEADER)} = "{kind}")')
        retry = ["Retry-After $fd_retry_after"]
        extra = {405: ["Allow $fd_allow"], 429: retry, 503: retry}.get(status, [])
        for header in [deny, *common, *extra]:
            conf.line(f"add_header {header} always;")
        conf.line(f'return {status} "{BODY_VARIABLE}";')
        conf.close()
    for header in [deny, *common, "WWW-Authenticate $fd_www_authenticate"]:
        conf.line(f"add_header {header} always;")
    conf.line(f'return 403 "{BODY_VARIABLE}";')
    conf.close()
    conf.line("")
    conf.open(f"location {UNAUTHORIZED_LOCATION}")
    conf.line("default_type application/json;")
    if signs_in:
        conf.line("absolute_redirect off;  # the sign-in's Location as serve sends it: a path on this site")
        conf.open(f'if ({answer_variable(authz_api.DENY_HEADER)} = "sign-in")')
        conf.line("# a browser without a session: to the sign-in the authz starts (/_frontdoor/start)")
        for header in ["Cache-Control no-store", *common]:
            conf.line(f"add_header {header} always;")
        conf.line(f"return 302 {answer_variable('Location')};")
        conf.close()
    for header in [deny, *common]:
        conf.line(f"add_header {header} always;")
    conf.line(f'return 401 "{BODY_VARIABLE}";')
    conf.close()
    own_error_locations(conf, common, owner)


def own_error_locations(conf: ConfWriter, common: list[str], owner: str) -> None:
    for status, (answered, kind, reason) in sorted(OWN_ERRORS.items()):
        conf.line("")
        conf.open(f"location = {ERROR_LOCATION}/{status}")
        conf.line("internal;")
        conf.line("default_type application/json;")
        for header in ([f"{authz_api.DENY_HEADER} {kind}"] if kind else []) + common:
            conf.line(f"add_header {header} always;")
        named = OWNER_VARIABLE if status in _UPSTREAM_ERRORS else owner
        conf.line(f"return {answered} '{error_body(answered, reason, named)}';")
        conf.close()
