"""Session refresh against a real OpenID provider (npm oidc-provider) that issues refresh tokens: the
login asks for offline_access, the provider's access tokens live 20 seconds (always within the
gateway's refresh margin), so every request of the signed-in browser refreshes at the provider's token
endpoint and gets a resealed cookie; a token endpoint that cannot be reached ends the session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdoor.demo.documents import join, service

from .harness import ContractSpec, Gateway, Upstreams, free_port, request
from .oidc_support import CHROMIUM, OidcProvider, browser, login_secrets, login_yaml, sign_in_at_provider

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")


class Site:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.origin = f"http://localhost:{self.port}"
        self.upstreams = Upstreams()
        self.provider = OidcProvider([self.origin], refresh=True, ttl={"AccessToken": 20})
        login = login_yaml(scopes="openid, email, offline_access")
        spec = ContractSpec(
            port=self.port,
            shop=[(self.upstreams.start("shop"), 1)],
            other=[self.upstreams.start("other")],
            services=join(
                service("shop", "shop", "- {path: /app, access: {login: corp}}"),
                service("other", "shop", "- {path: /other, access: public}"),
            ),
            identity=f"{{providers: [{self.provider.provider_yaml(login=login)}]}}",
            secrets=login_secrets(root),
        )
        self.gateway = Gateway(spec.write(root / "contract"), spec, root / "access.log")

    def close(self) -> None:
        self.gateway.stop()
        self.provider.stop()
        self.upstreams.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = Site(tmp_path_factory.mktemp("refresh-e2e"))
    yield running
    running.close()


def session_value(context: Any) -> str:
    return str(next(c["value"] for c in context.cookies() if c["name"] == "frontdoor-session-corp"))


def refreshes(site: Site, outcome: str) -> str:
    metrics = site.gateway.admin("/metrics")[1].decode()
    prefix = f'frontdoor_signins_total{{outcome="{outcome}",owner="edge",provider="corp"}} '
    return next((line[len(prefix) :] for line in metrics.splitlines() if line.startswith(prefix)), "0")


def test_a_session_refreshes_at_the_provider_and_is_resealed(site: Site) -> None:
    with browser() as chromium:
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"{site.origin}/app")
        sign_in_at_provider(page, "alice")
        assert page.url == f"{site.origin}/app"
        first = session_value(context)
        # the page after the callback was already a request whose tokens were about to expire
        assert refreshes(site, "refreshed") == "1.0"
        # the access token expires within the margin: this request refreshes, and the cookie changes
        response = page.goto(f"{site.origin}/app")
        assert response is not None and response.status == 200
        assert json.loads(page.inner_text("body"))["frontdoor_headers"]
        second = session_value(context)
        assert second != first
        assert refreshes(site, "refreshed") == "2.0"
        # and again, with the refresh token the provider gave last (rotated or not)
        response = page.goto(f"{site.origin}/app")
        assert response is not None and response.status == 200
        assert refreshes(site, "refreshed") == "3.0"
        context.close()
    log = json.dumps(site.gateway.access_log())
    assert second[:40] not in log and first[:40] not in log


def test_a_refresh_that_fails_ends_the_session(site: Site) -> None:
    """Last in this module: it stops the provider, so its token endpoint cannot be reached."""
    with browser() as chromium:
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"{site.origin}/app")
        sign_in_at_provider(page, "bob")
        cookie = f"frontdoor-session-corp={session_value(context)}"
        context.close()
    site.provider.stop()
    status, _, _ = request(site.port, "GET", "/app", {"Cookie": cookie, "Accept": "application/json"})
    assert status == 401
    assert refreshes(site, "refresh-failed") == "1.0"
    status, headers, _ = request(site.port, "GET", "/app", {"Cookie": cookie, "Accept": "text/html"})
    assert status == 302 and headers["location"].startswith("/_frontdoor/start")
