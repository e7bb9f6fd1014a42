"""Browser sign-in behind a real nginx: the rendered nginx.conf asks `frontdoor authz`, whose 401 for a
browser without a session nginx turns into the redirect to sign in (error_page 401), and whose
/_frontdoor/ paths nginx passes to the authz. The same person, provider (npm oidc-provider) and
Chromium as tests/test_signin_e2e.py, with the same answers: parity with serve."""

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
    browser,
    login_secrets,
    login_yaml,
    page_json,
    sign_in_at_provider,
)
from .test_render_nginx import NGINX, Nginx, render_conf

pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]

ROUTES = """
- {path: /app, access: {login: corp}}
- {path: /admin, access: {login: corp, claims: {roles: admin}}}
"""


class Stack:
    def __init__(self, root: Path, *, refresh: bool = False) -> None:
        """``refresh``: the login asks for offline_access and the provider's access tokens live 20
        seconds, within the refresh margin: every request of a signed-in browser refreshes."""
        self.upstreams = Upstreams()
        self.port = free_port()
        self.origin = f"http://localhost:{self.port}"
        if refresh:
            self.provider = OidcProvider([self.origin], refresh=True, ttl={"AccessToken": 20})
            login = login_yaml(scopes="openid, email, profile, offline_access")
        else:
            self.provider = OidcProvider([self.origin])
            login = login_yaml()
        spec = ContractSpec(
            port=self.port,
            shop=[(self.upstreams.start("shop"), 1)],
            other=[self.upstreams.start("other")],
            services=join(
                service("shop", "shop", ROUTES), service("other", "shop", "- {path: /other, access: public}")
            ),
            identity=f"{{providers: [{self.provider.provider_yaml(login=login)}]}}",
            secrets=login_secrets(root),
        )
        contract = spec.write(root / "contract")
        self.log = root / "authz.log"
        self.authz, authz_port = start_authz(contract, dict(os.environ), self.log, "--dialect", "nginx")
        self.nginx = Nginx(root, render_conf(contract, authz_port, root), self.port)

    def close(self) -> None:
        self.nginx.stop()
        self.authz.stop()
        self.provider.stop()
        self.upstreams.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("signin-nginx"))
    yield running
    running.close()


def own_cookies(context: Any) -> dict[str, Any]:
    return {c["name"]: c for c in context.cookies() if c["name"].startswith("frontdoor-")}


def test_signing_in_through_nginx(stack: Stack) -> None:
    callbacks: list[str] = []
    with browser() as chromium:
        context = chromium.new_context()
        context.add_cookies([{"name": "theme", "value": "dark", "url": stack.origin}])  # the app's own
        page = context.new_page()
        page.on("request", lambda r: callbacks.append(r.url) if "/_frontdoor/callback" in r.url else None)
        page.goto(f"{stack.origin}/app/page?x=1")
        assert page.url.startswith(stack.provider.issuer)
        sign_in_at_provider(page, "alice")
        assert page.url == f"{stack.origin}/app/page?x=1"
        seen = page_json(page)
        identity = dict(seen["frontdoor_headers"])
        assert identity["x-frontdoor-subject"] == "alice"
        assert identity["x-frontdoor-issuer"] == stack.provider.issuer
        # the upstream gets the app's cookies and never the sealed session (authz's Cookie answer)
        assert seen["headers"]["cookie"] == "theme=dark"
        session = own_cookies(context)["frontdoor-session-corp"]
        assert session["httpOnly"] and session["sameSite"] == "Lax"

        replay = page.goto(callbacks[0])  # the finished flow's callback again
        assert replay is not None and replay.status == 400
        assert page_json(page)["reason"].startswith("this sign-in was not started here")

        denied = page.goto(f"{stack.origin}/admin")  # a claim alice does not have
        assert denied is not None and denied.status == 403

        cookie = f"frontdoor-session-corp={session['value']}"
        status, _, body = request(stack.port, "GET", "/app", {"Cookie": cookie, "Accept": "application/json"})
        assert status == 200 and "cookie" not in json.loads(body)["headers"]  # nothing left: no Cookie
        status, _, body = request(stack.port, "GET", "/other", {"Cookie": f"a=1; {cookie}; b=2"})
        assert status == 200 and json.loads(body)["headers"]["cookie"] == "a=1; b=2"  # public routes too

        page.goto(f"{stack.origin}/_frontdoor/logout")
        assert page.url.startswith(stack.provider.issuer)  # RP-initiated logout
        assert own_cookies(context) == {}
        status, headers, _ = request(stack.port, "GET", "/app", {"Cookie": cookie, "Accept": "text/html"})
        assert status == 302 and headers["location"].startswith("/_frontdoor/start?provider=corp")
        context.close()
    log = stack.log.read_text()
    assert session["value"][:40] not in log
    entries = [json.loads(line) for line in log.splitlines()]
    replayed = [e for e in entries if e["path"] == "/_frontdoor/callback" and e["status"] == 400]
    assert replayed and replayed[0]["deny"] == "sign-in" and replayed[0]["denied_by"] == "sign-in (no-flow)"


def test_json_clients_get_serves_401_not_a_redirect(stack: Stack) -> None:
    status, headers, body = request(stack.port, "GET", "/app", {"Accept": "application/json"})
    assert status == 401 and "location" not in headers
    assert json.loads(body)["reason"] == "this route needs a bearer token"


def test_an_open_redirect_returns_home_through_nginx(stack: Stack) -> None:
    with browser() as chromium:
        page = chromium.new_page()
        page.goto(f"{stack.origin}/_frontdoor/start?provider=corp&rd=%2F%5Cevil.example")
        sign_in_at_provider(page, "bob")
        assert page.url == f"{stack.origin}/"


@pytest.fixture(scope="module")
def refreshing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("refresh-nginx"), refresh=True)
    yield running
    running.close()


def test_a_session_refreshes_through_nginx(refreshing: Stack) -> None:
    """authz refreshes the session at the provider and nginx hands the resealed cookie to the browser
    (its auth_request_set / add_header Set-Cookie wiring), as serve does."""
    with browser() as chromium:
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"{refreshing.origin}/app")
        sign_in_at_provider(page, "alice")
        assert page.url == f"{refreshing.origin}/app"
        first = own_cookies(context)["frontdoor-session-corp"]["value"]
        response = page.goto(f"{refreshing.origin}/app")
        assert response is not None and response.status == 200
        assert dict(page_json(page)["frontdoor_headers"])["x-frontdoor-subject"] == "alice"
        # a new cookie seconds after sign-in is the refresh's (the idle deadline moves after a minute)
        assert own_cookies(context)["frontdoor-session-corp"]["value"] != first
        context.close()
    refreshed = [json.loads(line) for line in refreshing.log.read_text().splitlines()]
    assert first[:40] not in json.dumps(refreshed)


def chunks(context: Any) -> list[str]:
    """The session cookie and its numbered parts, in order."""
    cookies = own_cookies(context)
    names = ["frontdoor-session-corp"] + [f"frontdoor-session-corp.{n}" for n in range(1, 4)]
    return [cookies[name]["value"] for name in names if name in cookies]


def test_a_session_split_over_cookies_is_set_and_refreshed_whole_through_nginx(refreshing: Stack) -> None:
    """A person in a hundred teams: the session spans two cookies. nginx passes the callback's
    Set-Cookie lines as they are, and an allow's (a refresh) through X-Frontdoor-Set-Cookie-N, each
    added to the response: the browser's cookies stay one session, still accepted afterwards."""
    with browser() as chromium:
        context = chromium.new_context()
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
