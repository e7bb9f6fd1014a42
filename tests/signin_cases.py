"""The browser sign-in's refusals as one table, run the same way against both ways of deploying the
edge: `frontdoor serve` (tests/test_signin_e2e.py) and `frontdoor authz` behind a real nginx
(tests/test_signin_nginx.py). A case is written once and both modes must give the answer it names:
parity cannot drift.

Every case is produced by the real parts: npm's oidc-provider (a certified OpenID provider), a real
Chromium driven by Playwright, and the edge under test. Each module runs one provider and two
deployments of its mode: ``main`` and its ``neighbour``, the same contract with another cookie key and
sessions of a few seconds (its cookies are the foreign-key and the expired ones). One person's browser
signs in at the provider once (``person``); later flows pass the provider without a form, as a
returning person's do.

What the real provider cannot produce, and so stays only in tests/test_signin_stage.py (a stub token
endpoint that answers whatever the test says):

- an ID token whose audience is another client: a certified provider redeems a code only for the
  client it was issued to, so its token endpoint never hands this gateway another client's ID token.
  The honest cases here go as far as a real attacker can: another client's callback (its own state:
  refused before any exchange), and our own flow carrying a code issued to another client (the
  provider refuses to exchange it: 502). The gateway's own audience check is behind that wall;
- an expired ID token, one from a foreign issuer, a token endpoint that fails: the provider issues
  fresh tokens of its own, and answers.

The wrong nonce is produced honestly: two sign-ins in progress in one browser, the second's
authorization request carrying the first's nonce (what an attacker who injects one sign-in's request
into another does); the provider puts that nonce in the ID token and the gateway refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from frontdoor.access.sealing import Sealer
from frontdoor.access.session import Session

from .harness import request
from .oidc_support import (
    CLIENT_ID,
    OTHER_CLIENT_ID,
    OidcProvider,
    browser,
    sign_in_at_provider,
    wait_until,
)

PROVIDER = "corp"
SESSION_COOKIE = f"frontdoor-session-{PROVIDER}"
MAIN_KEY = "e2e-main-cookie-key-0123456789abcdef"
NEIGHBOUR_KEY = "e2e-neighbour-cookie-key-0123456789"
NEIGHBOUR_SESSION = {"ttl": "3s", "idle": "3s"}  # long enough to sign in, short enough to wait out
NEIGHBOUR_TTL = 3.0
# the routes of both deployments; "=/" is where a refused return URL lands
ROUTES = """
- {path: =/, access: public}
- {path: /app, access: {login: corp}}
- {path: /admin, access: {login: corp, claims: {roles: admin}}}
- {path: /home, access: public}
"""
CALLBACK = "/_frontdoor/callback"
TO_SIGN_IN = f"/_frontdoor/start?provider={PROVIDER}&rd=%2Fapp"  # where a browser without a session goes

NEEDS_TOKEN = "this route needs a bearer token"
BAD_TOKEN = "the token is malformed"
NO_FLOW = "this sign-in was not started here, or has expired: start again"
STATE_MISMATCH = "the sign-in's state does not match: start again"
NONCE_MISMATCH = "the ID token was refused: its nonce is not this sign-in's"
NOT_EXCHANGED = "the identity provider did not complete the sign-in"
PROVIDER_REFUSED = "the identity provider refused the sign-in (access_denied)"


class Deployment(Protocol):
    """One edge under test, whatever runs it: the browser's origin for it (``http://host:port``), the
    port a script reaches it on, and its access log's entries (serve's, or authz's behind nginx)."""

    origin: str
    port: int

    def log_entries(self) -> list[dict[str, Any]]: ...


@dataclass
class Sites:
    main: Deployment
    neighbour: Deployment
    provider: OidcProvider
    chromium: Any  # a Playwright Browser
    person: Any  # a BrowserContext signed in at the provider (not at the edge)


@contextmanager
def sites(main: Deployment, neighbour: Deployment, provider: OidcProvider) -> Iterator[Sites]:
    """One Chromium for a module; its ``person`` has signed in at the provider (and at ``main``)."""
    with browser() as chromium:
        person = chromium.new_context()
        page = person.new_page()
        page.goto(f"{main.origin}/app")
        sign_in_at_provider(page, "alice")
        page.close()
        try:
            yield Sites(main, neighbour, provider, chromium, person)
        finally:
            person.close()


@dataclass(frozen=True)
class Seen:
    """What came back: the status; where the browser was sent (a Location) or the page it ended on,
    as a path on the site; the JSON reason of a refusal."""

    status: int
    where: str = ""
    reason: str = ""


# --- how the cases act ------------------------------------------------------------------------------------


def as_script(site: Deployment, cookie: str, path: str = "/app") -> Seen:
    """A request carrying ``cookie`` (a session's value) as a browser would send it."""
    status, headers, _ = request(
        site.port, "GET", path, {"Cookie": f"{SESSION_COOKIE}={cookie}", "Accept": "text/html"}
    )
    return Seen(status, headers.get("location", ""))


def api_client(headers: dict[str, str]) -> Callable[[Sites], Seen]:
    """A client that is not a browser navigating (or carries a token): judged as bearer tokens are,
    a 401 and never a redirect to sign in."""

    def case(sites: Sites) -> Seen:
        status, answer, body = request(sites.main.port, "GET", "/app", headers)
        assert "bearer" in answer.get("www-authenticate", "").lower()
        return Seen(status, answer.get("location", ""), json.loads(body)["reason"])

    return case


def on_site(site: Deployment, url: str) -> str:
    assert url.startswith(site.origin + "/"), url
    return url[len(site.origin) :]


def browse(site: Deployment, context: Any, url: str) -> Seen:
    """A navigation, through every redirect and the provider's pages: where it ended."""
    page = context.new_page()
    try:
        answers = navigations(page)
        page.goto(url)
        through_provider(page)
        return seen_on(site, page, answers)
    finally:
        page.close()


def navigations(page: Any) -> list[Any]:
    """The page's document answers, redirects included, as they come."""
    answers: list[Any] = []
    page.on("response", lambda r: answers.append(r) if r.request.is_navigation_request() else None)
    return answers


def seen_on(site: Deployment, page: Any, answers: list[Any]) -> Seen:
    """The page a navigation ended on: its status, path and (when it is a refusal) its reason."""
    status = next(a.status for a in reversed(answers) if a.url == page.url)
    where = on_site(site, page.url)
    if status < 400:
        return Seen(status, where)
    # a refusal: the path it came from (its query is the provider's code and state)
    return Seen(status, where.partition("?")[0], json.loads(page.inner_text("body"))["reason"])


def through_provider(page: Any) -> None:
    """Past the provider's own pages, when it shows any: its sign-in form (a person without a session
    there) and its consent form (a client this person has not yet allowed)."""
    for _ in range(3):
        page.wait_for_load_state()
        if "/interaction/" not in page.url:
            return
        if page.query_selector('input[name="login"]') is not None:
            sign_in_at_provider(page, "alice")
        else:
            page.click('button[type="submit"]')
    raise AssertionError(f"still at the provider: {page.url}")


def sign_in(sites: Sites, site: Deployment) -> str:
    """The person signs in at ``site`` (the provider knows them already): the session cookie's value."""
    page = sites.person.new_page()
    try:
        page.goto(f"{site.origin}{TO_SIGN_IN}")
        through_provider(page)
        assert on_site(site, page.url) == "/app"
    finally:
        page.close()
    host = urlsplit(site.origin).hostname
    values = [
        c["value"] for c in sites.person.cookies() if c["name"] == SESSION_COOKIE and c["domain"] == host
    ]
    assert len(values) == 1
    return str(values[0])


def start(sites: Sites, site: Deployment, rd: str = "/app") -> str:
    """A sign-in started at ``site`` in the person's browser (its flow cookie kept there): the
    authorization request the browser is sent to."""
    answer = sites.person.request.get(
        f"{site.origin}/_frontdoor/start?provider={PROVIDER}&rd={quote(rd, safe='')}", max_redirects=0
    )
    assert answer.status == 302, answer.status
    location = str(answer.headers["location"])
    assert location.startswith(sites.provider.issuer)
    return location


def caught_callback(sites: Sites, authorization: str) -> str:
    """The provider's answer to ``authorization``: the callback it sends the browser to, not followed
    (the flow the browser holds stays pending). The browser's own cookies go with the requests, so
    the provider knows the person; a browser's navigation could not be stopped there (Playwright
    routes only a navigation's first request, never its redirects)."""
    url = authorization
    for _ in range(5):
        assert url.startswith(sites.provider.issuer), url
        answer = sites.person.request.get(url, max_redirects=0)
        assert answer.status in (302, 303), (answer.status, url)
        url = str(answer.headers["location"])
        if CALLBACK in url:
            return url
        url = url if "://" in url else sites.provider.issuer + url
    raise AssertionError(f"the provider did not send the browser back: {url}")


def finished_callback(sites: Sites, site: Deployment) -> str:
    """A sign-in the person completes at ``site``: the callback the browser went through."""
    page = sites.person.new_page()
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/_frontdoor/callback" in r.url else None)
    try:
        page.goto(f"{site.origin}{TO_SIGN_IN}")
        through_provider(page)
        assert on_site(site, page.url) == "/app"
    finally:
        page.close()
    assert len(callbacks) == 1
    return callbacks[0]


def with_params(url: str, **changes: str | None) -> str:
    """``url`` with query parameters replaced (or, given None, removed)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def param(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def opens(cookie: str, key: str) -> Session | None:
    raw = Sealer([key.encode()], f"session {PROVIDER}").open(cookie)
    return Session.from_json(raw) if raw is not None else None


def tampered(value: str) -> str:
    """One character changed in the middle (a whole base64url digit, never padding bits)."""
    middle = len(value) // 2
    return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]


# --- the cases ----------------------------------------------------------------------------------------------


def tampered_cookie(sites: Sites) -> Seen:
    value = sign_in(sites, sites.main)
    assert as_script(sites.main, value).status == 200  # untouched, it is a session
    return as_script(sites.main, tampered(value))


def foreign_key_cookie(sites: Sites) -> Seen:
    """A session the neighbour sealed (another cookie key), shown to main while it is current: main
    would admit it if the key were the same (its own ttl is an hour)."""
    value = sign_in(sites, sites.neighbour)
    assert opens(value, NEIGHBOUR_KEY) is not None and opens(value, MAIN_KEY) is None
    return as_script(sites.main, value)


def expired_session(sites: Sites) -> Seen:
    """A session of the neighbour's, shown to it once its ttl has passed (waited out, not timed)."""
    value = sign_in(sites, sites.neighbour)
    session = opens(value, NEIGHBOUR_KEY)
    assert session is not None  # a real session, sealed with the neighbour's key
    while time.time() <= session.started + NEIGHBOUR_TTL + 0.5:
        time.sleep(0.25)
    return as_script(sites.neighbour, value)


def logout_then_reuse(sites: Sites) -> Seen:
    value = sign_in(sites, sites.main)
    page = sites.person.new_page()
    try:
        page.goto(f"{sites.main.origin}/_frontdoor/logout")
        assert page.url.startswith(sites.provider.issuer)  # RP-initiated logout at end_session_endpoint
    finally:
        page.close()
    host = urlsplit(sites.main.origin).hostname
    assert not [c for c in sites.person.cookies() if c["name"] == SESSION_COOKIE and c["domain"] == host]
    return as_script(sites.main, value)  # the copy kept from before sign-out


def replayed_callback(sites: Sites) -> Seen:
    """A finished sign-in's callback again: its flow is used up."""
    callback = finished_callback(sites, sites.main)
    return browse(sites.main, sites.person, callback)


def replayed_state(sites: Sites) -> Seen:
    """A finished sign-in's callback (its code and state) while another sign-in is in progress."""
    callback = finished_callback(sites, sites.main)
    caught_callback(sites, start(sites, sites.main))  # a new flow, pending in the browser
    return browse(sites.main, sites.person, callback)


def missing_state(sites: Sites) -> Seen:
    """The provider's callback for the pending flow, its state taken out."""
    callback = caught_callback(sites, start(sites, sites.main))
    return browse(sites.main, sites.person, with_params(callback, state=None))


def wrong_nonce(sites: Sites) -> Seen:
    """Two sign-ins in progress in one browser; the second's request to the provider carries the
    first's nonce. Its state and PKCE are the second's own, so only the ID token's nonce is wrong."""
    first = start(sites, sites.main)
    second = start(sites, sites.main)  # its flow cookie replaces the first's
    return browse(sites.main, sites.person, with_params(second, nonce=param(first, "nonce")))


def another_clients_callback(sites: Sites) -> Seen:
    """A sign-in another application (client) started at the provider, its callback sent here."""
    start(sites, sites.main)  # a flow of ours pending in the browser
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    theirs = (
        sites.provider.issuer
        + "/auth?"
        + urlencode(
            {
                "client_id": OTHER_CLIENT_ID,
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": f"{sites.main.origin}/_frontdoor/callback",
                "state": secrets.token_urlsafe(16),
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    return browse(sites.main, sites.person, theirs)


def another_clients_code(sites: Sites) -> Seen:
    """Our own flow (state, nonce, PKCE) asked of the provider as another client: the callback is
    ours in every way but the code, issued to the other client, which the provider will not redeem
    for us."""
    ours = start(sites, sites.main)
    assert param(ours, "client_id") == CLIENT_ID
    return browse(sites.main, sites.person, with_params(ours, client_id=OTHER_CLIENT_ID))


def provider_error(sites: Sites) -> Seen:
    """A person who cancels at the provider's sign-in form: its error comes back to the callback."""
    context = sites.chromium.new_context()  # nobody signed in at the provider: its form shows
    try:
        page = context.new_page()
        answers = navigations(page)
        page.goto(f"{sites.main.origin}/app")
        page.wait_for_selector('input[name="login"]')
        page.click("text=[ Cancel ]")
        page.wait_for_url("**/_frontdoor/callback*")
        page.wait_for_load_state()
        return seen_on(sites.main, page, answers)
    finally:
        context.close()


def returns_to(rd: str) -> Callable[[Sites], Seen]:
    """A sign-in asked to return to ``rd`` (as the start's query parameter, already encoded)."""

    def case(sites: Sites) -> Seen:
        started = f"{sites.main.origin}/_frontdoor/start?provider={PROVIDER}&rd={rd}"
        return browse(sites.main, sites.person, started)

    return case


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Sites], Seen]
    expected: Seen
    outcome: str = ""  # a refused callback's failure, as the edge logs it: denied_by "sign-in (outcome)"


def check(sites: Sites, case: Case) -> None:
    """Run ``case`` and hold the deployment to its answer, its log line, and the rule that no session
    cookie's value is ever logged. Both modes' tests call this and nothing else per case."""
    before = len(sites.main.log_entries())
    assert case.run(sites) == case.expected
    if case.outcome:
        wanted = f"sign-in ({case.outcome})"
        wait_until(
            lambda: any(
                e.get("path") == CALLBACK and e.get("denied_by") == wanted
                for e in sites.main.log_entries()[before:]
            )
        )
    logged = json.dumps(sites.main.log_entries() + sites.neighbour.log_entries())
    for cookie in sites.person.cookies():
        if cookie["name"].startswith("frontdoor-") and cookie["value"]:
            assert cookie["value"][:40] not in logged


HOME = Seen(200, "/")  # a return URL refused: back to the site's root, never elsewhere
CASES = [
    # cookies: each is no session, so the browser is sent to sign in again
    Case("tampered-cookie", tampered_cookie, Seen(302, TO_SIGN_IN)),
    Case("foreign-key-cookie", foreign_key_cookie, Seen(302, TO_SIGN_IN)),
    Case("expired-session", expired_session, Seen(302, TO_SIGN_IN)),
    Case("logout-then-reuse", logout_then_reuse, Seen(302, TO_SIGN_IN)),
    # not a browser navigating: judged as today, never sent to sign in
    Case("json-client", api_client({"Accept": "application/json"}), Seen(401, "", NEEDS_TOKEN)),
    Case("curl", api_client({}), Seen(401, "", NEEDS_TOKEN)),
    Case(
        "browser-with-a-bad-token",
        api_client({"Accept": "text/html", "Authorization": "Bearer x.y.z"}),
        Seen(401, "", BAD_TOKEN),
    ),
    # callbacks
    Case("replayed-callback", replayed_callback, Seen(400, CALLBACK, NO_FLOW), "no-flow"),
    Case("replayed-state", replayed_state, Seen(400, CALLBACK, STATE_MISMATCH), "state-mismatch"),
    Case("missing-state", missing_state, Seen(400, CALLBACK, STATE_MISMATCH), "state-mismatch"),
    Case("wrong-nonce", wrong_nonce, Seen(401, CALLBACK, NONCE_MISMATCH), "nonce-mismatch"),
    Case(
        "another-clients-callback",
        another_clients_callback,
        Seen(400, CALLBACK, STATE_MISMATCH),
        "state-mismatch",
    ),
    Case("another-clients-code", another_clients_code, Seen(502, CALLBACK, NOT_EXCHANGED), "exchange-failed"),
    Case("provider-error", provider_error, Seen(401, CALLBACK, PROVIDER_REFUSED), "provider-refused"),
    # return URLs (the start's rd, as a link would carry it): only a path on this site is kept
    Case("return-to-a-path", returns_to("%2Fapp%2Fx%3Fy%3D1"), Seen(200, "/app/x?y=1")),  # the control
    Case("return-to-another-host", returns_to("http%3A%2F%2Fevil.example%2F"), HOME),
    Case("return-scheme-relative", returns_to("%2F%2Fevil.example%2F"), HOME),
    Case("return-backslash", returns_to("%2F%5Cevil.example"), HOME),
    Case("return-unencoded", returns_to("//evil.example/"), HOME),
    Case("return-encoded-slashes", returns_to("%2F%252F%252Fevil.example"), HOME),
    Case("return-encoded-backslash", returns_to("%2F%255Cevil.example"), HOME),
    Case("return-double-encoded", returns_to("%2F%25252F%25252Fevil.example"), HOME),
    Case("return-tab", returns_to("%2F%09%2Fevil.example"), HOME),
]
