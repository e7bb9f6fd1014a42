"""A real nginx with `auth_request` to a real `frontdoor authz`, in front of a demo upstream: the
configuration of docs/authz.md, run. nginx is installed by `make test` (scripts/system-packages.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from frontdoor.idp.tokens import mint

from .authz_support import (
    BATCH_KEY,
    AccessContract,
    Process,
    process_env,
    start_authz,
    start_idp,
)
from .harness import Upstreams, free_port, request

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs it)")

# The auth location and the identity copying of docs/authz.md, with ports filled in; a second location
# shows turning the deny kind back into the real status with error_page.
CONFIG = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;

    upstream frontdoor_authz {{
        server 127.0.0.1:{authz};
        keepalive 8;
    }}

    map $status $frontdoor_challenge {{
        403     $frontdoor_www_authenticate;
        default "";
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name shop.test;

        location / {{
            auth_request /_frontdoor_auth;
            auth_request_set $frontdoor_subject $upstream_http_x_frontdoor_subject;
            auth_request_set $frontdoor_scopes  $upstream_http_x_frontdoor_scopes;
            auth_request_set $frontdoor_client  $upstream_http_x_frontdoor_client;
            auth_request_set $frontdoor_issuer  $upstream_http_x_frontdoor_issuer;
            auth_request_set $frontdoor_deny    $upstream_http_x_frontdoor_deny;
            auth_request_set $frontdoor_www_authenticate $upstream_http_www_authenticate;
            proxy_set_header X-Frontdoor-Subject $frontdoor_subject;
            proxy_set_header X-Frontdoor-Scopes  $frontdoor_scopes;
            proxy_set_header X-Frontdoor-Client  $frontdoor_client;
            proxy_set_header X-Frontdoor-Issuer  $frontdoor_issuer;
            proxy_set_header Host $host;
            add_header X-Frontdoor-Deny $frontdoor_deny always;
            add_header WWW-Authenticate $frontdoor_challenge always;
            proxy_pass http://127.0.0.1:{upstream};
        }}

        location = /_frontdoor_auth {{
            internal;
            proxy_pass http://frontdoor_authz/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $host;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


@dataclass
class Stack:
    port: int
    state: Path
    issuer: str
    root: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert NGINX is not None
    root = tmp_path_factory.mktemp("nginx")
    state = root / "state"
    upstreams = Upstreams()
    authz: Process | None = None
    nginx: subprocess.Popen[bytes] | None = None
    try:
        upstream = upstreams.start("shop")
        contract = AccessContract(idp_port=free_port(), upstream_port=upstream)
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        directory = contract.write(root / "contract")
        authz, authz_port = start_authz(
            directory, process_env(state), root / "authz.log", "--dialect", "nginx"
        )
        port = free_port()
        config = root / "nginx.conf"
        config.write_text(CONFIG.format(root=root, authz=authz_port, port=port, upstream=upstream))
        nginx = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            if nginx.poll() is not None:
                assert nginx.stderr is not None
                raise RuntimeError(f"nginx exited: {nginx.stderr.read().decode(errors='replace')}")
            try:
                request(port, "GET", "/shop", {"Host": "shop.test"}, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield Stack(port, state, contract.issuer, root)
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(5)
        if authz is not None:
            authz.stop()
        upstreams.close()


def via_nginx(stack: Stack, method: str, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return request(stack.port, method, path, {"Host": "shop.test", **headers})


def upstream_saw(body: bytes) -> dict[str, str]:
    return json.loads(body)["headers"]  # type: ignore[no-any-return]


def test_a_public_route_is_let_through_without_any_identity(stack: Stack) -> None:
    status, _, body = via_nginx(stack, "GET", "/shop/items?x=1")
    assert status == 200
    seen = upstream_saw(body)
    assert json.loads(body)["path"] == "/shop/items?x=1"
    assert not any(name.startswith("x-frontdoor-") for name in seen)


def test_forged_identity_headers_never_reach_the_upstream(stack: Stack) -> None:
    status, _, body = via_nginx(
        stack,
        "GET",
        "/shop",
        **{
            "X-Frontdoor-Subject": "root",
            "X-Frontdoor-Client": "batch",
            "X-Frontdoor-Scopes": "orders:write",
        },
    )
    assert status == 200
    assert not any(name.startswith("x-frontdoor-") for name in upstream_saw(body))


def test_a_protected_route_without_a_token_is_401_with_the_challenge(stack: Stack) -> None:
    status, headers, _ = via_nginx(stack, "GET", "/orders/7")
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")


def test_forged_identity_does_not_open_a_protected_route(stack: Stack) -> None:
    status, _, _ = via_nginx(stack, "GET", "/orders/7", **{"X-Frontdoor-Subject": "alice"})
    assert status == 401


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [("GET", "/nowhere", "no-route"), ("DELETE", "/exact", "method-not-allowed")],
)
def test_what_nginx_cannot_take_is_a_403_naming_the_kind(
    stack: Stack, method: str, path: str, kind: str
) -> None:
    status, headers, _ = via_nginx(stack, method, path)
    assert status == 403
    assert headers["x-frontdoor-deny"] == kind  # copied by auth_request_set + add_header ... always


def test_client_headers_cannot_choose_what_is_decided(stack: Stack) -> None:
    # nginx sets X-Original-URI itself; a client's own X-Original-Url would be the other dialect's
    status, headers, _ = via_nginx(stack, "GET", "/orders/7", **{"X-Original-Url": "http://shop.test/shop"})
    assert status == 403 and headers["x-frontdoor-deny"] == "bad-check"


def test_a_valid_token_reaches_the_upstream_as_identity_headers(stack: Stack) -> None:
    token = mint("alice", ["orders:read"], state=stack.state, issuer=stack.issuer)
    status, _, body = via_nginx(stack, "GET", "/orders/7", Authorization=f"Bearer {token}")
    assert status == 200
    seen = upstream_saw(body)
    assert seen["x-frontdoor-subject"] == "alice"
    assert "orders:read" in seen["x-frontdoor-scopes"].split()
    assert seen["x-frontdoor-issuer"] == stack.issuer
    assert "x-frontdoor-client" not in seen  # empty: nginx sends no header


def test_a_token_without_the_scope_is_403(stack: Stack) -> None:
    token = mint("alice", ["catalog:write"], state=stack.state, issuer=stack.issuer)
    status, headers, _ = via_nginx(stack, "GET", "/orders/7", Authorization=f"Bearer {token}")
    assert status == 403
    assert headers.get("x-frontdoor-deny")


def test_an_api_client_reaches_the_upstream_by_name(stack: Stack) -> None:
    status, _, body = via_nginx(stack, "GET", "/batch/run", **{"X-Api-Key": BATCH_KEY})
    assert status == 200
    seen = upstream_saw(body)
    assert seen["x-frontdoor-client"] == "batch"
    assert "x-frontdoor-subject" not in seen


def test_a_rate_limited_request_is_a_403_naming_the_limit(stack: Stack) -> None:
    assert via_nginx(stack, "GET", "/limited")[0] == 200  # the route allows one request an hour
    status, headers, _ = via_nginx(stack, "GET", "/limited")
    assert status == 403  # a 429 from the auth service would become a 500 in nginx
    assert headers["x-frontdoor-deny"] == "rate-limit"
