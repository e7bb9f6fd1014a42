"""Refreshing a signed-in browser's tokens (RFC 6749 6) before they expire: the refresh token kept in
the sealed session, the token call over a real socket to a stub token endpoint (the gateway's own
form POST, client_secret_basic and all), the session resealed on the response, bounded by the absolute
ttl, and a failed refresh ending the session (a browser sent to sign in, anything else 401)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from frontdoor.access.oidcflow import http_post_form
from frontdoor.access.sealing import Sealer
from frontdoor.access.session import Session
from frontdoor.access.signin import REFRESH_MARGIN, session_cookie
from frontdoor.access.signincounts import SIGNINS
from frontdoor.policy.admission import Denial

from .idp import IdentityProvider
from .test_signin_stage import BROWSER, COOKIE_KEY, NOW, Setup, id_token, plan_for, set_cookies, start, token


class TokenEndpoint:
    """A token endpoint on a real socket: records each form it is posted, answers ``answer`` (or
    ``status`` with an error), and holds its answer until ``release`` is set when ``hold`` is."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.authorizations: list[str] = []
        self.answer: dict[str, Any] = {}
        self.status = 200
        self.hold = False
        self.received = threading.Event()
        self.release = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                endpoint.forms.append({k: v[0] for k, v in parse_qs(body.decode()).items()})
                endpoint.authorizations.append(self.headers["authorization"])
                endpoint.received.set()
                status = endpoint.status
                if endpoint.hold and not endpoint.release.wait(10):
                    status = 500  # the event loop never got to release it: the refresh must fail
                payload = json.dumps(endpoint.answer if status == 200 else {"error": "invalid_grant"})
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post(self, url: str, form: dict[str, str], client: tuple[str, str], timeout: float) -> dict[str, Any]:
        """The gateway's real POST, sent here instead of the discovered (unserved) endpoint."""
        assert url == "http://127.0.0.1:9400/token"
        return http_post_form(self.url, form, client, timeout)


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    source = IdentityProvider.with_keys()
    source.issuer = "http://127.0.0.1:9400/"
    return source


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    served = TokenEndpoint()
    yield served
    served.release.set()
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def setup(idp: IdentityProvider, tmp_path: Path, endpoint: TokenEndpoint) -> Setup:
    prepared = Setup(plan_for(tmp_path, idp, ttl="1h", idle="30m"), idp)
    prepared.stage.signin.post = endpoint.post
    return prepared


def opened(cookie_line: str) -> Session:
    sealed = cookie_line.split("=", 1)[1].split(";", maxsplit=1)[0]
    raw = Sealer([COOKIE_KEY.encode()], "session idp").open(sealed)
    assert raw is not None
    session = Session.from_json(raw)
    assert session is not None
    return session


def signed_in(setup: Setup, endpoint: TokenEndpoint) -> str:
    """A session from a real callback whose token response carries a refresh token; its cookie."""
    query, flow = start(setup)
    endpoint.answer = {
        "id_token": id_token(setup, query["nonce"][0]),  # expires at NOW + 300
        "access_token": "opaque-1",
        "expires_in": 120,
        "refresh_token": "refresh-1",
        "scope": "openid email",
    }
    answer = setup.answer("/_frontdoor/callback", f"code=c0de&state={query['state'][0]}", flow)
    assert answer.outcome == "signed-in"
    assert endpoint.forms[-1]["grant_type"] == "authorization_code"
    return f"{session_cookie('idp')}={set_cookies(answer)[session_cookie('idp')]}"


def decided(setup: Setup, cookie: str, headers: dict[str, str] | None = None) -> tuple[Any, Any]:
    admission, verdict = setup.decide("/app", {**(headers or {}), "cookie": cookie})
    if verdict is not None and not isinstance(verdict, Denial):
        verdict = asyncio.run(_wait(verdict))
    return admission, verdict


async def _wait(pending: Any) -> Any:
    return await pending


def refreshes(setup: Setup, outcome: str) -> int:
    return SIGNINS["idp", outcome, setup.stage.signin.owner]


def test_the_refresh_token_is_kept_sealed_with_the_first_expiry(
    setup: Setup, endpoint: TokenEndpoint
) -> None:
    cookie = signed_in(setup, endpoint)
    session = opened(cookie)
    assert session.refresh == "refresh-1" and session.expires == NOW + 120  # the access token's, first
    assert "refresh-1" not in cookie
    # before the margin nothing is refreshed: the session admits at once
    setup.clock.now = NOW + 120 - REFRESH_MARGIN - 1
    admission, verdict = setup.decide("/app", {"cookie": cookie})
    assert verdict is None and admission.subject == "alice" and len(endpoint.forms) == 1


def test_a_session_about_to_expire_is_refreshed_and_resealed(setup: Setup, endpoint: TokenEndpoint) -> None:
    cookie = signed_in(setup, endpoint)
    before = refreshes(setup, "refreshed")
    setup.clock.now = NOW + 120 - REFRESH_MARGIN
    endpoint.answer = {
        "id_token": token(setup.idp, aud="shop-web", exp=int(NOW) + 900, email="alice@new.test"),
        "access_token": "opaque-2",
        "expires_in": 600,
        "refresh_token": "refresh-2",  # rotated
    }
    admission, verdict = decided(setup, cookie)
    assert verdict is None and admission.subject == "alice"
    form = endpoint.forms[-1]
    assert form == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert base64.b64decode(endpoint.authorizations[-1].split()[1]) == b"shop-web:s3cret"
    line = admission.response_head.decode()
    assert line.startswith(f"set-cookie: {session_cookie('idp')}=") and "HttpOnly" in line
    fresh = opened(line)
    assert fresh.refresh == "refresh-2" and fresh.expires == setup.clock.now + 600
    assert fresh.email == "alice@new.test" and fresh.scopes == frozenset({"openid", "email"})  # kept
    assert fresh.started == NOW and f"Max-Age={3600 - 90}" in line  # bounded by the absolute ttl
    assert refreshes(setup, "refreshed") == before + 1


def test_a_failed_refresh_ends_the_session(setup: Setup, endpoint: TokenEndpoint) -> None:
    cookie = signed_in(setup, endpoint)
    before = refreshes(setup, "refresh-failed")
    setup.clock.now = NOW + 100
    endpoint.status = 400
    _, denial = decided(setup, cookie, BROWSER)
    assert isinstance(denial, Denial) and denial.status == 302  # a browser signs in again
    assert endpoint.forms[-1]["grant_type"] == "refresh_token"
    assert refreshes(setup, "refresh-failed") == before + 1
    # the same cookie again is no session: an API-ish request gets 401, with no second token call
    calls = len(endpoint.forms)
    _, denial = decided(setup, cookie, {"accept": "application/json"})
    assert isinstance(denial, Denial) and denial.status == 401
    assert len(endpoint.forms) == calls


def test_a_refreshed_id_token_for_someone_else_ends_the_session(
    setup: Setup, endpoint: TokenEndpoint
) -> None:
    cookie = signed_in(setup, endpoint)
    setup.clock.now = NOW + 100
    endpoint.answer = {"id_token": token(setup.idp, aud="shop-web", sub="mallory"), "access_token": "x"}
    _, denial = decided(setup, cookie, {"accept": "application/json"})
    assert isinstance(denial, Denial) and denial.status == 401


def test_no_refresh_past_the_absolute_ttl(setup: Setup, endpoint: TokenEndpoint) -> None:
    cookie = signed_in(setup, endpoint)
    setup.clock.now = NOW + 3600
    _, denial = decided(setup, cookie, BROWSER)
    assert isinstance(denial, Denial) and denial.status == 302
    assert len(endpoint.forms) == 1  # only the code exchange


def test_requests_arriving_together_share_one_refresh(setup: Setup, endpoint: TokenEndpoint) -> None:
    cookie = signed_in(setup, endpoint)
    setup.clock.now = NOW + 100
    endpoint.answer = {"access_token": "opaque-2", "expires_in": 600, "refresh_token": "refresh-2"}
    pending = [setup.decide("/app", {"cookie": cookie}) for _ in range(3)]

    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(verdict for _, verdict in pending)))

    assert asyncio.run(all_of()) == [None, None, None]
    assert [f["grant_type"] for f in endpoint.forms] == ["authorization_code", "refresh_token"]
    assert all(opened(a.response_head.decode()).refresh == "refresh-2" for a, _ in pending)


def test_the_event_loop_serves_others_while_the_token_endpoint_answers(
    setup: Setup, endpoint: TokenEndpoint
) -> None:
    cookie = signed_in(setup, endpoint)
    setup.clock.now = NOW + 100
    other = setup.session_cookie(started=setup.clock.now, seen=setup.clock.now)  # no refresh token
    endpoint.answer = {"access_token": "opaque-2", "expires_in": 600}
    endpoint.hold = True
    endpoint.received.clear()  # set by the code exchange

    async def scenario() -> Any:
        _, verdict = setup.decide("/app", {"cookie": cookie})
        refresh = asyncio.ensure_future(_wait(verdict))
        while not endpoint.received.is_set():  # the token call is under way, in its thread
            await asyncio.sleep(0.01)
        # the loop still decides another browser's request, then lets the token endpoint answer
        admission, other_verdict = setup.decide("/app", {"cookie": other})
        assert other_verdict is None and admission.subject == "alice"
        endpoint.release.set()
        return await refresh

    assert asyncio.run(scenario()) is None
