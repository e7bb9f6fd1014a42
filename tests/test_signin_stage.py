"""Sign-in on a compiled plan, without sockets: who is sent to sign in and who gets a 401, what a
session admits, and the callback's refusals (state, nonce, another client's ID token, tampered,
expired and foreign-key cookies). The token endpoint is a function here; tests/test_signin_e2e.py runs
the same flow against a real OpenID provider in a real browser."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from frontdoor.access.cookies import parse_cookies
from frontdoor.access.loginprovider import SignInError
from frontdoor.access.oidcflow import ExchangeError
from frontdoor.access.sealing import Sealer
from frontdoor.access.session import Session
from frontdoor.access.signin import Answer, flow_cookie, session_cookie
from frontdoor.access.stage import AccessStage
from frontdoor.contract.load import load_contract
from frontdoor.demo.documents import join, service
from frontdoor.http.h1 import RequestHead
from frontdoor.plan import Plan, compile_plan
from frontdoor.policy.admission import Admission, Denial

from .harness import ContractSpec
from .idp import IdentityProvider
from .test_keys import Clock

NOW = 1_900_000_000.0  # the stage's clock; every token here is issued at it
COOKIE_KEY = "cookie-key-0123456789abcdef"
OLD_KEY = "old-cookie-key-0123456789"
ROUTES = """
- {path: /app, access: {login: idp}}
- {path: /admin, access: {login: idp, claims: {roles: admin}}}
- {path: /reports, access: {login: idp, scopes: ["reports:read"]}}
- {path: /api, access: authenticated}
"""
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def token(idp: IdentityProvider, **claims: Any) -> str:
    """A token issued at NOW (the stage's clock), whatever the real time."""
    return idp.token(**{"iat": int(NOW), "exp": int(NOW) + 300, **claims})


def login_yaml(ttl: str = "8h", idle: str = "1h") -> str:
    return (
        "{client_id: shop-web, client_secret: secret:web-secret, scopes: [openid, email], "
        f"session: {{ttl: {ttl}, idle: {idle}}}, cookie_keys: [secret:cookie-key, secret:old-key]}}"
    )


def plan_for(root: Path, idp: IdentityProvider, **login: str) -> Plan:
    (root / "web-secret").write_text("s3cret")
    (root / "cookie-key").write_text(COOKIE_KEY + "\n")
    (root / "old-key").write_text(OLD_KEY)
    spec = ContractSpec(
        shop=[(9, 1)],
        services=join(
            service("shop", "shop", ROUTES), service("other", "shop", "- {path: /other, access: public}")
        ),
        identity=f"{{providers: [{idp.provider_yaml(login=login_yaml(**login))}]}}",
        secrets={
            "web-secret": f"file:{root / 'web-secret'}",
            "cookie-key": f"file:{root / 'cookie-key'}",
            "old-key": f"file:{root / 'old-key'}",
        },
    )
    result = load_contract(spec.write(root / "contract"))
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    return compile_plan(result.contract, "dev")


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    source = IdentityProvider.with_keys()
    source.issuer = "http://127.0.0.1:9400/"
    return source


class Setup:
    def __init__(self, plan: Plan, idp: IdentityProvider) -> None:
        self.idp = idp
        self.plan = plan
        self.clock = Clock(NOW)
        self.token_answer: dict[str, Any] = {}
        self.posted: list[dict[str, str]] = []
        self.stage = AccessStage(
            plan, clock=self.clock, get_json=idp.get_json, keys_clock=Clock(), fetch_keys=False
        )
        self.stage.signin.post = self.post
        for keyset in self.stage.keysets:
            future = keyset.refresh()
            assert future is not None
            future.result(5)

    def post(self, url: str, form: dict[str, str], client: tuple[str, str], timeout: float) -> dict[str, Any]:
        assert url == "http://127.0.0.1:9400/token" and client == ("shop-web", "s3cret")
        self.posted.append(form)
        if not self.token_answer:
            raise ExchangeError("the token endpoint answered 400")
        return self.token_answer

    def decide(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[Admission, Any]:
        fields = [(n.encode(), v.encode()) for n, v in (headers or {}).items()]
        head = RequestHead(method, path, "1.1", fields, "shop.test", None, False, True)
        route = next(r for _, r in self.plan.routes() if path.startswith(r.path.path) and r.allows(method))
        admission = Admission(head, route, method, path.partition("?")[0], "127.0.0.1", (), 0.0)
        admission.target = path
        return admission, self.stage.check(admission)

    def session_cookie(self, key: str = COOKIE_KEY, **changes: Any) -> str:
        values: dict[str, Any] = {
            "provider": "idp",
            "subject": "alice",
            "issuer": self.idp.issuer,
            "scopes": frozenset(),
            "claims": {},
            "email": "alice@shop.test",
            "started": NOW,
            "seen": NOW,
            "sid": "sid-1",
        }
        values.update(changes)
        sealed = Sealer([key.encode()], "session idp").seal(Session(**values).to_json())
        return f"{session_cookie('idp')}={sealed}"

    def answer(self, path: str, query: str = "", cookie: str = "") -> Answer:
        cookies = parse_cookies([cookie.encode()]) if cookie else {}
        return asyncio.run(self.stage.signin.answer(path, query, cookies, "https://shop.test", True))


@pytest.fixture
def setup(idp: IdentityProvider, tmp_path: Path) -> Setup:
    return Setup(plan_for(tmp_path, idp), idp)


def location(denial: Any) -> str:
    assert isinstance(denial, Denial | Answer)
    return dict(denial.headers)[b"location"].decode()


def set_cookies(answer: Answer) -> dict[str, str]:
    return {
        v.split(b"=", 1)[0].decode(): v.split(b"=", 1)[1].split(b";")[0].decode()
        for n, v in answer.headers
        if n == b"set-cookie"
    }


# --- who is sent to sign in -----------------------------------------------------------------------------


def test_a_browser_without_a_session_is_sent_to_sign_in(setup: Setup) -> None:
    _, denial = setup.decide("/app/page?x=1", BROWSER)
    assert isinstance(denial, Denial) and denial.status == 302 and denial.kind == "sign-in"
    assert location(denial) == "/_frontdoor/start?provider=idp&rd=%2Fapp%2Fpage%3Fx%3D1"


@pytest.mark.parametrize(
    "headers, method",
    [
        ({"accept": "application/json"}, "GET"),  # an API client
        ({}, "GET"),  # curl
        (BROWSER, "POST"),  # a form post is never redirected: its body would be lost
    ],
    ids=["json", "no-accept", "post"],
)
def test_anything_but_a_browser_navigating_gets_401(
    setup: Setup, headers: dict[str, str], method: str
) -> None:
    _, denial = setup.decide("/app", headers, method)
    assert isinstance(denial, Denial) and denial.status == 401
    assert dict(denial.headers)[b"www-authenticate"].startswith(b"Bearer")


def test_a_bearer_token_is_judged_as_today_never_redirected(setup: Setup) -> None:
    admission, verdict = setup.decide("/app", {**BROWSER, "authorization": f"Bearer {token(setup.idp)}"})
    assert verdict is None and admission.subject == "alice"
    _, denial = setup.decide("/app", {**BROWSER, "authorization": "Bearer not.a.token"})
    assert isinstance(denial, Denial) and denial.status == 401


# --- what a session admits --------------------------------------------------------------------------------


def test_a_session_admits_and_tells_the_upstream_who(setup: Setup) -> None:
    admission, verdict = setup.decide("/app", {"cookie": "theme=dark; " + setup.session_cookie()})
    assert verdict is None
    assert dict(admission.upstream_headers or ()) == {
        b"x-frontdoor-issuer": setup.idp.issuer.encode(),
        b"x-frontdoor-subject": b"alice",
        b"x-frontdoor-email": b"alice@shop.test",
    }
    assert admission.response_head == b""  # used just now: no new cookie


def test_claims_and_scopes_are_checked_against_the_session(setup: Setup) -> None:
    _, denial = setup.decide("/admin", {**BROWSER, "cookie": setup.session_cookie()})
    assert isinstance(denial, Denial) and denial.status == 403
    _, verdict = setup.decide("/admin", {"cookie": setup.session_cookie(claims={"roles": ["admin"]})})
    assert verdict is None
    _, denial = setup.decide("/reports", {"cookie": setup.session_cookie()})
    assert isinstance(denial, Denial) and denial.status == 403
    _, verdict = setup.decide(
        "/reports", {"cookie": setup.session_cookie(scopes=frozenset({"reports:read"}))}
    )
    assert verdict is None


def test_an_old_cookie_key_still_opens_a_session(setup: Setup) -> None:
    _, verdict = setup.decide("/app", {"cookie": setup.session_cookie(key=OLD_KEY)})
    assert verdict is None


@pytest.mark.parametrize(
    "cookie",
    [
        lambda s: s.session_cookie(key="a-foreign-key-0123456789"),
        lambda s: s.session_cookie()[:-3] + "AAA",  # tampered
        lambda s: s.session_cookie(started=NOW - 8 * 3600 - 1, seen=NOW - 10),  # past the ttl
        lambda s: s.session_cookie(seen=NOW - 3601),  # idle too long
        lambda s: s.session_cookie(provider="other"),
        lambda s: f"{flow_cookie('idp')}=" + s.session_cookie().split("=", 1)[1],  # under another name
    ],
    ids=["foreign-key", "tampered", "expired", "idle", "other-provider", "renamed"],
)
def test_a_bad_session_is_no_session(setup: Setup, cookie: Any) -> None:
    _, denial = setup.decide("/app", {**BROWSER, "cookie": cookie(setup)})
    assert isinstance(denial, Denial) and denial.status == 302


def test_using_a_session_moves_its_idle_deadline(setup: Setup) -> None:
    admission, verdict = setup.decide("/app", {"cookie": setup.session_cookie(seen=NOW - 120)})
    assert verdict is None
    line = admission.response_head.decode()
    assert line.startswith(f"set-cookie: {session_cookie('idp')}=") and "HttpOnly" in line
    sealed = line.split("=", 1)[1].split(";")[0]
    opened = Sealer([COOKIE_KEY.encode()], "session idp").open(sealed)
    assert opened is not None and Session.from_json(opened).seen == NOW  # type: ignore[union-attr]
    assert "Max-Age=28800" in line  # what is left of the ttl, no more


def test_session_durations_come_from_the_contract(idp: IdentityProvider, tmp_path: Path) -> None:
    setup = Setup(plan_for(tmp_path, idp, ttl="10m", idle="2m"), idp)
    _, verdict = setup.decide("/app", {"cookie": setup.session_cookie(seen=NOW - 100)})
    assert verdict is None
    _, denial = setup.decide("/app", {**BROWSER, "cookie": setup.session_cookie(seen=NOW - 121)})
    assert isinstance(denial, Denial) and denial.status == 302
    _, denial = setup.decide("/app", {**BROWSER, "cookie": setup.session_cookie(started=NOW - 601, seen=NOW)})
    assert isinstance(denial, Denial) and denial.status == 302


def test_a_missing_login_secret_stops_the_start(idp: IdentityProvider, tmp_path: Path) -> None:
    plan = plan_for(tmp_path, idp)
    (tmp_path / "cookie-key").write_text("short")
    with pytest.raises(SignInError, match="shorter"):
        AccessStage(plan, get_json=idp.get_json, fetch_keys=False)


# --- the flow ----------------------------------------------------------------------------------------------


def start(setup: Setup, rd: str = "/app/page") -> tuple[dict[str, list[str]], str]:
    answer = setup.answer("/_frontdoor/start", f"provider=idp&rd={rd}")
    assert answer.status == 302 and answer.outcome == "started"
    url = urlsplit(location(answer))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://127.0.0.1:9400/authorize"
    cookies = set_cookies(answer)
    assert list(cookies) == [flow_cookie("idp")]
    assert b"Secure" in dict(answer.headers)[b"set-cookie"]  # the origin is https
    return parse_qs(url.query), f"{flow_cookie('idp')}={cookies[flow_cookie('idp')]}"


def id_token(setup: Setup, nonce: str, **claims: Any) -> str:
    return token(setup.idp, aud="shop-web", nonce=nonce, email="alice@shop.test", **claims)


def test_the_flow_end_to_end_with_a_stub_token_endpoint(setup: Setup) -> None:
    query, flow = start(setup)
    assert query["client_id"] == ["shop-web"] and query["scope"] == ["openid email"]
    assert query["redirect_uri"] == ["https://shop.test/_frontdoor/callback"]
    setup.token_answer = {
        "id_token": id_token(setup, query["nonce"][0]),
        "access_token": "opaque",
        "scope": "openid",
    }
    answer = setup.answer("/_frontdoor/callback", f"code=c0de&state={query['state'][0]}", flow)
    assert (answer.status, answer.outcome, location(answer)) == (302, "signed-in", "/app/page")
    assert setup.posted[0]["code"] == "c0de" and setup.posted[0]["grant_type"] == "authorization_code"
    assert setup.posted[0]["code_verifier"]  # PKCE: the verifier goes only to the token endpoint
    cookies = set_cookies(answer)
    assert cookies[flow_cookie("idp")] == ""  # the flow is used up
    cookie = f"{session_cookie('idp')}={cookies[session_cookie('idp')]}"
    admission, verdict = setup.decide("/app", {"cookie": cookie})
    assert verdict is None and admission.subject == "alice"
    assert "c0de" not in cookie and setup.token_answer["id_token"] not in cookie


def test_the_access_token_brings_its_scopes_when_it_is_a_trusted_jwt(setup: Setup) -> None:
    query, flow = start(setup)
    setup.token_answer = {
        "id_token": id_token(setup, query["nonce"][0]),
        "access_token": token(setup.idp, scope="reports:read"),
    }
    answer = setup.answer("/_frontdoor/callback", f"code=c&state={query['state'][0]}", flow)
    cookie = f"{session_cookie('idp')}={set_cookies(answer)[session_cookie('idp')]}"
    _, verdict = setup.decide("/reports", {"cookie": cookie})
    assert verdict is None


@pytest.mark.parametrize(
    "case, status, outcome",
    [
        ("wrong-state", 400, "state-mismatch"),
        ("no-flow-cookie", 400, "no-flow"),
        ("wrong-nonce", 401, "nonce-mismatch"),
        ("another-client", 401, "id-token-invalid"),
        ("expired-id-token", 401, "id-token-invalid"),
        ("foreign-issuer", 401, "id-token-invalid"),
        ("code-refused", 502, "exchange-failed"),
        ("provider-error", 401, "provider-refused"),
        ("flow-expired", 400, "flow-expired"),
    ],
)
def test_callback_refusals(setup: Setup, case: str, status: int, outcome: str) -> None:
    query, flow = start(setup)
    nonce, state = query["nonce"][0], query["state"][0]
    claims: dict[str, Any] = {}
    params = f"code=c&state={state}"
    if case == "wrong-state":
        params = "code=c&state=forged"
    elif case == "no-flow-cookie":
        flow = ""
    elif case == "wrong-nonce":
        nonce = "another"
    elif case == "another-client":
        claims["aud"] = "another-web-app"
    elif case == "expired-id-token":
        claims["exp"] = 1000
    elif case == "foreign-issuer":
        claims["iss"] = "https://evil.test/"
    elif case == "provider-error":
        params = f"error=access_denied&state={state}"
    elif case == "flow-expired":
        setup.clock.now += 601
    if case != "code-refused":
        setup.token_answer = {"id_token": token(setup.idp, **{"aud": "shop-web", "nonce": nonce, **claims})}
    answer = setup.answer("/_frontdoor/callback", params, flow)
    assert (answer.status, answer.outcome) == (status, outcome)
    assert session_cookie("idp") not in set_cookies(answer)
    assert "c" not in answer.reason.split() and state not in answer.reason


def test_start_keeps_only_a_same_site_return_path(setup: Setup) -> None:
    query, flow = start(setup, rd="%2F%2Fevil.test%2F")
    setup.token_answer = {"id_token": id_token(setup, query["nonce"][0])}
    answer = setup.answer("/_frontdoor/callback", f"code=c&state={query['state'][0]}", flow)
    assert location(answer) == "/"


def test_logout_clears_the_session_and_ends_it_at_the_provider(setup: Setup) -> None:
    old = setup.session_cookie()
    assert setup.decide("/app", {"cookie": old})[1] is None
    answer = setup.answer("/_frontdoor/logout", cookie=old)
    _, denial = setup.decide("/app", {**BROWSER, "cookie": old})  # a copy kept from before: refused
    assert isinstance(denial, Denial) and denial.status == 302
    assert answer.outcome == "signed-out"
    url = urlsplit(location(answer))
    assert url.path == "/logout"
    assert parse_qs(url.query) == {
        "client_id": ["shop-web"],
        "post_logout_redirect_uri": ["https://shop.test/"],
    }
    cleared = [v for n, v in answer.headers if n == b"set-cookie"]
    assert cleared and all(b"Max-Age=0" in v for v in cleared)
    # without a session there is nobody to sign out at the provider
    assert location(setup.answer("/_frontdoor/logout")) == "/"
