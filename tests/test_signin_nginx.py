"""Browser sign-in behind a real nginx: the rendered nginx.conf asks `frontdoor authz`, whose 401 for a
browser without a session nginx turns into the redirect to sign in (error_page 401), and whose
/_frontdoor/ paths nginx passes to the authz. The same provider (npm oidc-provider), Chromium and
answers as tests/test_signin_e2e.py: every refusal of tests/signin_cases.py's table (tampered,
foreign-key and expired cookies, logout then reuse, API clients never redirected, replayed and
missing state, a wrong nonce, another client's callback and code, the provider's error, the
open-redirect variants) runs here through nginx and authz exactly as it runs there through serve:
parity."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdoor.demo.documents import join, service

from .authz_support import start_authz
from .harness import ContractSpec, Upstreams, free_port, request
from .oidc_support import (
    CHROMIUM,
    OidcProvider,
    login_secrets,
    login_yaml,
    page_json,
    sign_in_at_provider,
)
from .signin_cases import (
    CASES,
    MAIN_KEY,
    NEIGHBOUR_KEY,
    NEIGHBOUR_SESSION,
    ROUTES,
    SESSION_COOKIE,
    Case,
    Sites,
    check,
    sites,
)
from .test_render_nginx import NGINX, Nginx, render_conf

pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]


class Stack:
    """nginx on ``port`` with the rendered conf, asking `frontdoor authz` for signin_cases.ROUTES, which
    signs browsers in at ``provider`` with ``key``."""

    def __init__(
        self,
        root: Path,
        provider: OidcProvider,
        port: int,
        host: str = "localhost",
        key: str = MAIN_KEY,
        session: dict[str, str] | None = None,
        scopes: str = "openid, email, profile",
    ) -> None:
        self.upstreams = Upstreams()
        self.port = port
        self.origin = f"http://{host}:{port}"
        self.provider = provider
        login = login_yaml(**(session or {}), scopes=scopes)
        spec = ContractSpec(
            port=self.port,
            shop=[(self.upstreams.start("shop"), 1)],
            other=[self.upstreams.start("other")],
            services=join(
                service("shop", "shop", ROUTES), service("other", "shop", "- {path: /other, access: public}")
            ),
            identity=f"{{providers: [{provider.provider_yaml(login=login)}]}}",
            secrets=login_secrets(root / "secrets", key),
        )
        contract = spec.write(root / "contract")
        self.log = root / "authz.log"
        self.authz, authz_port = start_authz(contract, dict(os.environ), self.log, "--dialect", "nginx")
        self.nginx = Nginx(root, render_conf(contract, authz_port, root), self.port)

    def log_entries(self) -> list[dict[str, Any]]:
        text = self.log.read_text() if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def close(self) -> None:
        self.nginx.stop()
        self.authz.stop()
        self.upstreams.close()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """One provider, nginx + authz under test and their neighbour (another cookie key, sessions of
    seconds), and one Chromium, for the whole module: as tests/test_signin_e2e.py's, for parity."""
    root = tmp_path_factory.mktemp("signin-nginx")
    ports = free_port(), free_port()
    origins = [f"http://localhost:{ports[0]}", f"http://neighbour.localhost:{ports[1]}"]
    provider = OidcProvider(origins, other_sites=origins[:1])
    running: list[Stack] = []
    try:
        running.append(Stack(root / "main", provider, ports[0]))
        running.append(
            Stack(
                root / "neighbour",
                provider,
                ports[1],
                "neighbour.localhost",
                NEIGHBOUR_KEY,
                NEIGHBOUR_SESSION,
            )
        )
        with sites(running[0], running[1], provider) as ready:
            yield ready
    finally:
        for stack in running:
            stack.close()
        provider.stop()


def main_stack(edge: Sites) -> Stack:
    assert isinstance(edge.main, Stack)
    return edge.main


def own_cookies(context: Any) -> dict[str, Any]:
    return {c["name"]: c for c in context.cookies() if c["name"].startswith("frontdoor-")}


def test_signing_in_through_nginx(edge: Sites) -> None:
    stack = main_stack(edge)
    context = edge.chromium.new_context()  # a person new to the provider: its form, then consent
    context.add_cookies([{"name": "theme", "value": "dark", "url": stack.origin}])  # the app's own
    page = context.new_page()
    page.goto(f"{stack.origin}/app/page?x=1")
    assert page.url.startswith(edge.provider.issuer)
    sign_in_at_provider(page, "bob")
    assert page.url == f"{stack.origin}/app/page?x=1"
    seen = page_json(page)
    identity = dict(seen["frontdoor_headers"])
    assert identity["x-frontdoor-subject"] == "bob"
    assert identity["x-frontdoor-issuer"] == edge.provider.issuer
    # the upstream gets the app's cookies and never the sealed session (authz's Cookie answer)
    assert seen["headers"]["cookie"] == "theme=dark"
    session = own_cookies(context)[SESSION_COOKIE]
    assert session["httpOnly"] and session["sameSite"] == "Lax"

    denied = page.goto(f"{stack.origin}/admin")  # a claim bob does not have
    assert denied is not None and denied.status == 403

    cookie = f"{SESSION_COOKIE}={session['value']}"
    status, _, body = request(stack.port, "GET", "/app", {"Cookie": cookie, "Accept": "application/json"})
    assert status == 200 and "cookie" not in json.loads(body)["headers"]  # nothing left: no Cookie
    status, _, body = request(stack.port, "GET", "/other", {"Cookie": f"a=1; {cookie}; b=2"})
    assert status == 200 and json.loads(body)["headers"]["cookie"] == "a=1; b=2"  # public routes too
    context.close()
    assert session["value"][:40] not in json.dumps(stack.log_entries())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_refusal_through_nginx(edge: Sites, case: Case) -> None:
    check(edge, case)


@pytest.fixture(scope="module")
def refreshing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The login asks for offline_access and the provider's access tokens live 20 seconds, within the
    refresh margin: every request of a signed-in browser refreshes."""
    port = free_port()
    provider = OidcProvider([f"http://localhost:{port}"], refresh=True, ttl={"AccessToken": 20})
    try:
        running = Stack(
            tmp_path_factory.mktemp("refresh-nginx"),
            provider,
            port,
            scopes="openid, email, profile, offline_access",
        )
        try:
            yield running
        finally:
            running.close()
    finally:
        provider.stop()


def test_a_session_refreshes_through_nginx(refreshing: Stack, edge: Sites) -> None:
    """authz refreshes the session at the provider and nginx hands the resealed cookie to the browser
    (its auth_request_set / add_header Set-Cookie wiring), as serve does."""
    context = edge.chromium.new_context()
    page = context.new_page()
    page.goto(f"{refreshing.origin}/app")
    sign_in_at_provider(page, "alice")
    assert page.url == f"{refreshing.origin}/app"
    first = own_cookies(context)[SESSION_COOKIE]["value"]
    response = page.goto(f"{refreshing.origin}/app")
    assert response is not None and response.status == 200
    assert dict(page_json(page)["frontdoor_headers"])["x-frontdoor-subject"] == "alice"
    # a new cookie seconds after sign-in is the refresh's (the idle deadline moves after a minute)
    assert own_cookies(context)[SESSION_COOKIE]["value"] != first
    context.close()
    assert first[:40] not in json.dumps(refreshing.log_entries())


def chunks(context: Any) -> list[str]:
    """The session cookie and its numbered parts, in order."""
    cookies = own_cookies(context)
    names = [SESSION_COOKIE] + [f"{SESSION_COOKIE}.{n}" for n in range(1, 4)]
    return [cookies[name]["value"] for name in names if name in cookies]


def test_a_session_split_over_cookies_is_set_and_refreshed_whole_through_nginx(
    refreshing: Stack, edge: Sites
) -> None:
    """A person in a hundred teams: the session spans two cookies. nginx passes the callback's
    Set-Cookie lines as they are, and an allow's (a refresh) through X-Frontdoor-Set-Cookie-N, each
    added to the response: the browser's cookies stay one session, still accepted afterwards."""
    context = edge.chromium.new_context()
    page = context.new_page()
    page.goto(f"{refreshing.origin}/app")
    sign_in_at_provider(page, "big-bob")
    assert page.url == f"{refreshing.origin}/app"
    first = chunks(context)
    assert len(first) == 2, [len(c) for c in first]
    assert "cookie" not in page_json(page)["headers"]  # two session cookies, neither upstream

    response = page.goto(f"{refreshing.origin}/app")  # refreshed (20 s access tokens): resealed
    assert response is not None and response.status == 200
    refreshed = chunks(context)
    assert len(refreshed) == 2 and refreshed[0] != first[0] and refreshed[1] != first[1]

    response = page.goto(f"{refreshing.origin}/app")  # the new cookies open as one session
    assert response is not None and response.status == 200 and page.url == f"{refreshing.origin}/app"
    assert dict(page_json(page)["frontdoor_headers"])["x-frontdoor-subject"] == "big-bob"
    context.close()
