"""Browser sign-in end to end: a real `frontdoor serve`, a real OpenID provider (npm oidc-provider,
certified) and a real Chromium driven by Playwright through the provider's sign-in form. What the
upstream sees and what the browser keeps; then every refusal of tests/signin_cases.py's table (the same
table tests/test_signin_nginx.py runs through authz behind nginx): tampered, foreign-key and expired
cookies, logout then reuse, API clients never redirected, replayed and missing state, a wrong nonce,
another client's callback and code, the provider's error, and the open-redirect variants. Why the
gateway's own audience check on another client's ID token is only in tests/test_signin_stage.py:
signin_cases.py's docstring."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdoor.demo.documents import join, service

from .harness import ContractSpec, Gateway, Upstreams, free_port, request
from .oidc_support import CHROMIUM, OidcProvider, login_secrets, login_yaml, page_json, sign_in_at_provider
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

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")


class Site:
    """`frontdoor serve` for signin_cases.ROUTES, signing browsers in at ``provider`` with ``key``."""

    def __init__(
        self, root: Path, provider: OidcProvider, port: int, host: str, key: str, session: dict[str, str]
    ) -> None:
        self.port = port
        self.origin = f"http://{host}:{port}"  # not the provider's host: separate cookie jars
        self.upstreams = Upstreams()
        spec = ContractSpec(
            port=self.port,
            shop=[(self.upstreams.start("shop"), 1)],
            other=[self.upstreams.start("other")],
            services=join(
                service("shop", "shop", ROUTES), service("other", "shop", "- {path: /other, access: public}")
            ),
            identity=f"{{providers: [{provider.provider_yaml(login=login_yaml(**session))}]}}",
            secrets=login_secrets(root / "secrets", key),
        )
        self.gateway = Gateway(spec.write(root / "contract"), spec, root / "access.log")

    def log_entries(self) -> list[dict[str, Any]]:
        return self.gateway.access_log()

    def signins(self) -> dict[str, float]:
        """frontdoor_signins_total by outcome and provider, as /metrics says now."""
        metrics = self.gateway.admin("/metrics")[1].decode()
        found = re.findall(
            r'frontdoor_signins_total\{outcome="([^"]+)",owner="edge",provider="([^"]*)"\} (\S+)', metrics
        )
        return {f"{outcome}/{provider}": float(value) for outcome, provider, value in found}

    def close(self) -> None:
        self.gateway.stop()
        self.upstreams.close()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """One provider, the gateway under test and its neighbour (another cookie key, sessions of
    seconds), and one Chromium, for the whole module."""
    root = tmp_path_factory.mktemp("signin-e2e")
    ports = free_port(), free_port()
    origins = [f"http://localhost:{ports[0]}", f"http://neighbour.localhost:{ports[1]}"]
    provider = OidcProvider(origins, other_sites=origins[:1])
    running: list[Site] = []
    try:
        running.append(Site(root / "main", provider, ports[0], "localhost", MAIN_KEY, {}))
        running.append(
            Site(
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
        for site in running:
            site.close()
        provider.stop()


def main_site(edge: Sites) -> Site:
    assert isinstance(edge.main, Site)
    return edge.main


def test_a_person_signs_in_and_the_upstream_learns_who(edge: Sites) -> None:
    site = main_site(edge)
    before = site.signins()
    context = edge.chromium.new_context()  # a person new to the provider: its form, then consent
    page = context.new_page()
    page.goto(f"{site.origin}/app/page?x=1")
    assert page.url.startswith(edge.provider.issuer)  # sent to the provider to sign in
    sign_in_at_provider(page, "bob")
    assert page.url == f"{site.origin}/app/page?x=1"  # back where the person was going
    seen = page_json(page)
    assert sorted(seen["frontdoor_headers"]) == [
        ["x-frontdoor-email", "bob@example.test"],
        ["x-frontdoor-issuer", edge.provider.issuer],
        ["x-frontdoor-scopes", "email openid profile"],  # granted (the access token is opaque)
        ["x-frontdoor-subject", "bob"],
    ]
    assert "frontdoor-" not in seen["headers"].get("cookie", "")  # the session stays at the edge
    cookies = {c["name"]: c for c in context.cookies() if c["name"].startswith("frontdoor-")}
    assert list(cookies) == [SESSION_COOKIE]
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"
    assert not session["secure"]  # a plain-HTTP entrypoint

    # a claim the person does not have: 403, not another sign-in
    denied = page.goto(f"{site.origin}/admin")
    assert denied is not None and denied.status == 403

    # the same session from a script: the cookie is enough, JSON or not
    cookie = f"{SESSION_COOKIE}={session['value']}"
    status, _, body = request(site.port, "GET", "/app", {"Cookie": cookie, "Accept": "application/json"})
    assert status == 200 and json.loads(body)["frontdoor_headers"]
    context.close()

    after = site.signins()
    assert after["signed-in/corp"] - before.get("signed-in/corp", 0) == 1
    assert session["value"][:40] not in json.dumps(site.log_entries())  # never in a log line


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_refusal(edge: Sites, case: Case) -> None:
    check(edge, case)
