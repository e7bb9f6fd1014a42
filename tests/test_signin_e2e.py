"""Browser sign-in end to end: a real `frontdoor serve`, a real OpenID provider (npm oidc-provider,
certified) and a real Chromium driven by Playwright through the provider's sign-in form. What the
upstream sees, what the browser keeps, and the refusals: a replayed callback, an open redirect, a
tampered cookie, a JSON client, sign-out and the old cookie's reuse."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from frontdoor.demo.documents import join, service

from .harness import ContractSpec, Gateway, Upstreams, free_port, request
from .oidc_support import (
    CHROMIUM,
    OidcProvider,
    browser,
    login_secrets,
    login_yaml,
    page_json,
    sign_in_at_provider,
)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")

ROUTES = """
- {path: /app, access: {login: corp}}
- {path: /admin, access: {login: corp, claims: {roles: admin}}}
- {path: /home, access: public}
"""


class Site:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.origin = f"http://localhost:{self.port}"  # not the provider's host: separate cookie jars
        self.upstreams = Upstreams()
        self.provider = OidcProvider([self.origin])
        spec = ContractSpec(
            port=self.port,
            shop=[(self.upstreams.start("shop"), 1)],
            other=[self.upstreams.start("other")],
            services=join(
                service("shop", "shop", ROUTES), service("other", "shop", "- {path: /other, access: public}")
            ),
            identity=f"{{providers: [{self.provider.provider_yaml(login=login_yaml())}]}}",
            secrets=login_secrets(root),
        )
        self.gateway = Gateway(spec.write(root / "contract"), spec, root / "access.log")

    def close(self) -> None:
        self.gateway.stop()
        self.provider.stop()
        self.upstreams.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = Site(tmp_path_factory.mktemp("signin-e2e"))
    yield running
    running.close()


def session_cookies(context: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in context.cookies() if c["name"].startswith("frontdoor-")}


def test_a_person_signs_in_and_the_upstream_learns_who(site: Site) -> None:
    callbacks: list[str] = []
    with browser() as chromium:
        context = chromium.new_context()
        page = context.new_page()
        page.on("request", lambda r: callbacks.append(r.url) if "/_frontdoor/callback" in r.url else None)
        page.goto(f"{site.origin}/app/page?x=1")
        assert page.url.startswith(site.provider.issuer)  # sent to the provider to sign in
        sign_in_at_provider(page, "alice")
        assert page.url == f"{site.origin}/app/page?x=1"  # back where the person was going
        seen = page_json(page)
        assert sorted(seen["frontdoor_headers"]) == [
            ["x-frontdoor-email", "alice@example.test"],
            ["x-frontdoor-issuer", site.provider.issuer],
            ["x-frontdoor-scopes", "email openid profile"],  # granted (the access token is opaque)
            ["x-frontdoor-subject", "alice"],
        ]
        assert "frontdoor-" not in seen["headers"].get("cookie", "")  # the session stays at the edge
        cookies = {c["name"]: c for c in context.cookies() if c["name"].startswith("frontdoor-")}
        assert list(cookies) == ["frontdoor-session-corp"]
        session = cookies["frontdoor-session-corp"]
        assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"
        assert not session["secure"]  # a plain-HTTP entrypoint

        # the provider's code and state were used once: the same callback again is refused
        assert len(callbacks) == 1
        replay = page.goto(callbacks[0])
        assert replay is not None and replay.status == 400
        assert page_json(page)["reason"].startswith("this sign-in was not started here")

        # a claim the person does not have: 403, not another sign-in
        denied = page.goto(f"{site.origin}/admin")
        assert denied is not None and denied.status == 403

        # the same session from a script: the cookie is enough, JSON or not
        cookie = f"frontdoor-session-corp={session['value']}"
        status, _, body = request(site.port, "GET", "/app", {"Cookie": cookie, "Accept": "application/json"})
        assert status == 200 and json.loads(body)["frontdoor_headers"]

        # sign out: cookie cleared here, session ended at the provider, and the old cookie refused
        page.goto(f"{site.origin}/_frontdoor/logout")
        assert page.url.startswith(site.provider.issuer)  # RP-initiated logout at end_session_endpoint
        assert session_cookies(context) == {}
        status, headers, _ = request(site.port, "GET", "/app", {"Cookie": cookie, "Accept": "text/html"})
        assert status == 302 and headers["location"].startswith("/_frontdoor/start")
        context.close()

    log = site.gateway.access_log()
    text = json.dumps(log)
    assert session["value"][:40] not in text  # never in a log line
    outcomes = [e.get("deny_kind") for e in log if e.get("path", "").startswith("/_frontdoor/callback")]
    assert outcomes in ([None, "sign-in"], ["", "sign-in"])  # the replay is logged as a failure
    metrics = site.gateway.admin("/metrics")[1].decode()
    assert 'frontdoor_signins_total{outcome="signed-in",owner="edge",provider="corp"} 1.0' in metrics
    assert 'frontdoor_signins_total{outcome="no-flow",owner="edge",provider=""} 1.0' in metrics


def test_json_clients_and_bearer_tokens_are_never_redirected(site: Site) -> None:
    status, headers, _body = request(site.port, "GET", "/app", {"Accept": "application/json"})
    assert status == 401 and "location" not in headers and headers["www-authenticate"].startswith("Bearer")
    status, headers, _ = request(
        site.port, "GET", "/app", {"Accept": "text/html", "Authorization": "Bearer x.y.z"}
    )
    assert status == 401 and "location" not in headers


def test_an_open_redirect_returns_home(site: Site) -> None:
    with browser() as chromium:
        page = chromium.new_page()
        page.goto(f"{site.origin}/_frontdoor/start?provider=corp&rd=%2F%2Fevil.example%2F")
        sign_in_at_provider(page, "bob")
        assert page.url == f"{site.origin}/"


def test_a_tampered_cookie_is_no_session(site: Site) -> None:
    with browser() as chromium:
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"{site.origin}/app")
        sign_in_at_provider(page, "carol")
        value = session_cookies(context)["frontdoor-session-corp"]
    tampered = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    status, headers, _ = request(
        site.port, "GET", "/app", {"Cookie": f"frontdoor-session-corp={tampered}", "Accept": "text/html"}
    )
    assert status == 302 and headers["location"] == "/_frontdoor/start?provider=corp&rd=%2Fapp"


def test_the_provider_refusing_is_an_answer_not_a_loop(site: Site) -> None:
    """A callback with the provider's error (the person cancelled) and the flow's own state."""
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    connection.request(
        "GET", "/_frontdoor/start?provider=corp&rd=/app", headers={"Host": f"localhost:{site.port}"}
    )
    started = connection.getresponse()
    started.read()
    flow = started.getheader("set-cookie", "").split(";")[0]
    state = parse_qs(urlsplit(started.getheader("location", "")).query)["state"][0]
    connection.request(
        "GET",
        f"/_frontdoor/callback?error=access_denied&state={state}",
        headers={"Cookie": flow, "Host": f"localhost:{site.port}"},
    )
    refused = connection.getresponse()
    body = json.loads(refused.read())
    assert (
        refused.status == 401
        and body["reason"] == "the identity provider refused the sign-in (access_denied)"
    )
    connection.close()
