"""Signing browsers in, from the contract: the glue between the flow (oidcflow.py), each provider's
client, endpoints and token checks (loginprovider.py), the session (session.py) and its cookies
(sealing.py, cookies.py). serve and authz both answer the reserved paths
with it, and the access stage reads sessions with it.

- ``/_frontdoor/start?provider=P&rd=/path``: a new flow (state, nonce, PKCE verifier) sealed into a
  short-lived cookie, and a redirect to the provider's authorization endpoint;
- ``/_frontdoor/callback``: the flow cookie opened and its state compared, the code exchanged, the ID
  token verified (issuer, audience = client_id, signature, expiry, nonce), the session cookie set,
  and back to the return path;
- ``/_frontdoor/logout``: every session cookie cleared, then the provider's end_session_endpoint (when
  it has one) or ``/``.

A session whose provider gave a refresh token is refreshed shortly before its tokens expire (the
access stage asks ``due`` and awaits ``refreshed``), never past the absolute ``ttl``; a refresh that
fails ends the session.

Every answer says its ``outcome``, for the metrics and the access log; a failure's reason is short and
never quotes a cookie, a code or a token (docs/access.md lists them).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlencode

from frontdoor.access.cookies import CookieTooLarge, clear_cookies, read_cookie, set_cookies
from frontdoor.access.discovery import DiscoveryError
from frontdoor.access.keys import GetJson, KeySet, http_get_json
from frontdoor.access.loginprovider import LoginProvider, expiry, grants, verify_issued
from frontdoor.access.oidcflow import (
    CALLBACK_PATH,
    LOGOUT_PATH,
    START_PATH,
    ExchangeError,
    Flow,
    PostForm,
    authorization_url,
    exchange_code,
    http_post_form,
    logout_url,
    new_flow,
    random_token,
    refresh_tokens,
)
from frontdoor.access.returnurl import safe_return
from frontdoor.access.session import Session, passable
from frontdoor.access.signedout import SignedOut
from frontdoor.access.signincounts import count
from frontdoor.access.tokens import TokenInvalid
from frontdoor.contract.models import Environment, Provider
from frontdoor.http.fields import Field

FLOW_MAX_AGE: Final = 600  # seconds a person has to sign in at the provider
REFRESH_MARGIN: Final = 30.0  # seconds before the tokens expire that a session refreshes them
# how long a refresh's result is kept for the requests that still carry the cookie from before it
# (a page's parallel subrequests): they get the new session instead of spending the old refresh token,
# which a provider that rotates refresh tokens treats as a replay
REFRESH_MEMO_S: Final = 30.0


def session_cookie(provider: str) -> str:
    return f"frontdoor-session-{provider}"


def flow_cookie(provider: str) -> str:
    return f"frontdoor-signin-{provider}"


def start_location(provider: str, return_to: str) -> str:
    """Where a browser without a session is sent: serve's and authz's own start of the flow."""
    return START_PATH + "?" + urlencode({"provider": provider, "rd": return_to}, quote_via=quote)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str  # for the JSON body; safe to show
    headers: tuple[Field, ...]
    outcome: str  # started, signed-in, signed-out, or the failure's short name
    provider: str = ""


def _redirect(location: str, cookies: Sequence[bytes], outcome: str, provider: str) -> Answer:
    headers = ((b"location", location.encode("ascii")), *((b"set-cookie", c) for c in cookies))
    return Answer(
        302,
        "continue at " + location.split("?", maxsplit=1)[0],
        (*headers, (b"cache-control", b"no-store")),
        outcome,
        provider,
    )


def _fail(
    status: int, reason: str, outcome: str, provider: str = "", cookies: Sequence[bytes] = ()
) -> Answer:
    headers = (*tuple((b"set-cookie", c) for c in cookies), (b"cache-control", b"no-store"))
    return Answer(status, reason, headers, outcome, provider)


class SignIn:
    """Every login provider of an Edge."""

    def __init__(
        self,
        providers: Sequence[tuple[Provider, KeySet]],
        environment: Environment,
        claims: frozenset[str] = frozenset(),
        *,
        clock: Callable[[], float] = time.time,
        get_json: GetJson = http_get_json,
        post: PostForm = http_post_form,
        owner: str = "",
        signed_out: SignedOut | None = None,
    ) -> None:
        self.providers = {
            p.name: LoginProvider(p, keys, environment, claims, get_json)
            for p, keys in providers
            if p.login is not None
        }
        self.clock = clock
        self.post = post
        self.owner = owner  # the Edge's team, on the metrics
        # sessions signed out, here or by another process of the deployment (signedout.py): a copy of
        # the cookie kept from before sign-out is refused by every process
        self.signed_out = signed_out if signed_out is not None else SignedOut()
        # refreshes under way or just done, by the session as sealed before: one token call per session
        self._refreshing: dict[str, asyncio.Future[Session | None]] = {}

    def __bool__(self) -> bool:
        return bool(self.providers)

    # --- sessions, for the access stage ---------------------------------------------------------------

    def session(self, cookies: Mapping[str, str], provider: str, now: float) -> Session | None:
        """The browser's current session with ``provider``, or None (none, not ours, or timed out)."""
        login = self.providers.get(provider)
        if login is None:
            return None
        sealed = read_cookie(dict(cookies), session_cookie(provider))
        if not sealed:
            return None
        raw = login.sessions.open(sealed)
        session = Session.from_json(raw) if raw is not None else None
        if session is None or session.provider != provider or not session.current(now, login.ttl, login.idle):
            return None
        if session.sid in self.signed_out:
            return None
        return session

    def touched(self, session: Session, now: float, secure: bool) -> list[bytes]:
        """Set-Cookie values that move the idle deadline, when it is worth it (a tenth of the idle time
        or a minute has passed since); none otherwise, so most responses set no cookie."""
        login = self.providers[session.provider]
        if now - session.seen < min(login.idle / 10, 60.0):
            return []
        return self._session_cookies(login, session.used(now), now, secure)

    def due(self, session: Session, now: float) -> bool:
        """Whether ``session``'s tokens are to be refreshed before it is used (it has a refresh token,
        and they expire within the margin)."""
        return session.refresh is not None and now >= session.expires - REFRESH_MARGIN

    async def refreshed(self, session: Session) -> Session | None:
        """``session`` with fresh tokens from the provider, or None when the refresh failed (the session
        is then over, here and for every later request carrying it). Requests of one session that
        arrive together share one token call."""
        assert session.refresh is not None
        # the same session as sealed before this refresh: its id, refresh token and expiry (a refresh
        # that does not rotate the refresh token still moves the expiry, so the next one is new)
        digest = hashlib.sha256(session.refresh.encode("utf-8")).hexdigest()
        key = f"{session.sid}:{digest}:{session.expires!r}"
        pending = self._refreshing.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._refresh(session))
            self._refreshing[key] = pending
            loop = asyncio.get_running_loop()
            pending.add_done_callback(
                lambda _: loop.call_later(REFRESH_MEMO_S, self._refreshing.pop, key, None)
            )
        return await asyncio.shield(pending)

    async def _refresh(self, session: Session) -> Session | None:
        login = self.providers[session.provider]
        assert session.refresh is not None
        fresh = await self._refreshed_session(login, session, session.refresh)
        now = self.clock()
        if fresh is None or not fresh.current(now, login.ttl, login.idle):
            await self.signed_out.sign_out(session.sid, session.started + login.ttl, now)
            count(login.name, "refresh-failed", self.owner)
            return None
        count(login.name, "refreshed", self.owner)
        return fresh

    async def _refreshed_session(self, login: LoginProvider, session: Session, token: str) -> Session | None:
        try:
            endpoints = await login.discovery.get()
            answer = await refresh_tokens(self.post, endpoints.token, token, login.client)
        except (DiscoveryError, ExchangeError):
            return None
        now = self.clock()
        id_claims: Mapping[str, Any] = session.claims
        id_expires: float | None = None
        email = session.email
        if "id_token" in answer:
            # a new ID token is the same person's (Core 12.2: same iss and sub), or the session ends
            try:
                payload = await verify_issued(login.id_tokens, answer["id_token"], now)
            except TokenInvalid:
                return None
            if payload.subject != session.subject or payload.issuer != session.issuer:
                return None
            id_claims = {k: v for k, v in payload.claims.items() if k != "nonce"}
            id_expires = payload.expires - login.id_tokens.skew
            email = passable(payload.claims.get("email")) or email
        scopes, claims = await grants(login, answer, id_claims, now, session.scopes)
        new_token = answer.get("refresh_token")
        return replace(
            session,
            scopes=scopes,
            claims=claims,
            email=email,
            refresh=new_token if isinstance(new_token, str) and new_token else token,
            expires=expiry(answer, id_expires, now, session.started + login.ttl),
        )

    def cookies(self, session: Session, now: float, secure: bool) -> list[bytes]:
        """Set-Cookie values for ``session`` as used now (after a refresh)."""
        return self._session_cookies(self.providers[session.provider], session.used(now), now, secure)

    def _session_cookies(
        self, login: LoginProvider, session: Session, now: float, secure: bool
    ) -> list[bytes]:
        max_age = max(1, int(session.started + login.ttl - now))
        return set_cookies(
            session_cookie(login.name), login.sessions.seal(session.to_json()), secure=secure, max_age=max_age
        )

    # --- the reserved paths ---------------------------------------------------------------------------

    @staticmethod
    def handles(path: str) -> bool:
        return path in (START_PATH, CALLBACK_PATH, LOGOUT_PATH)

    async def answer(
        self, path: str, query: str, cookies: Mapping[str, str], origin: str, secure: bool
    ) -> Answer:
        """The answer to a request for one of the reserved paths; ``origin`` is ``scheme://host`` as the
        browser sees this site."""
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items() if len(v) == 1}
        if path == START_PATH:
            answer = await self.start(params, origin, secure)
        elif path == CALLBACK_PATH:
            answer = await self.callback(params, cookies, origin, secure)
        else:
            answer = await self.logout(cookies, origin, secure)
        count(answer.provider, answer.outcome, self.owner)
        return answer

    async def start(self, params: Mapping[str, str], origin: str, secure: bool) -> Answer:
        name = params.get("provider") or (next(iter(self.providers)) if len(self.providers) == 1 else "")
        login = self.providers.get(name)
        if login is None:
            return _fail(400, "no such sign-in provider", "unknown-provider")
        try:
            endpoints = await login.discovery.get()
        except DiscoveryError:
            return _fail(502, "the identity provider cannot be reached", "discovery-failed", name)
        flow = new_flow(name, safe_return(params.get("rd")), origin + CALLBACK_PATH, self.clock())
        cookie = set_cookies(
            flow_cookie(name),
            login.flows.seal(flow.to_json()),
            secure=secure,
            max_age=FLOW_MAX_AGE,
            chunked=False,
        )
        return _redirect(
            authorization_url(endpoints.authorization, login.client_id, login.scopes, flow),
            cookie,
            "started",
            name,
        )

    def _flow(self, cookies: Mapping[str, str], state: str) -> tuple[LoginProvider, Flow] | str:
        """The flow this callback finishes, or the failure's outcome name."""
        seen = False
        for login in self.providers.values():
            sealed = read_cookie(dict(cookies), flow_cookie(login.name))
            if sealed is None:
                continue
            seen = True
            raw = login.flows.open(sealed)
            flow = Flow.from_json(raw) if raw is not None else None
            if flow is not None and flow.provider == login.name and state and flow.state == state:
                return login, flow
        return "state-mismatch" if seen else "no-flow"

    async def callback(
        self, params: Mapping[str, str], cookies: Mapping[str, str], origin: str, secure: bool
    ) -> Answer:
        found = self._flow(cookies, params.get("state", ""))
        if isinstance(found, str):
            reason = (
                "this sign-in was not started here, or has expired: start again"
                if found == "no-flow"
                else "the sign-in's state does not match: start again"
            )
            return _fail(400, reason, found)
        login, flow = found
        now = self.clock()
        done = clear_cookies(flow_cookie(login.name), secure=secure)  # a flow is used once, whatever happens
        if now > flow.started + FLOW_MAX_AGE:
            return _fail(400, "this sign-in has expired: start again", "flow-expired", login.name, done)
        if "error" in params:
            # the provider refused (the person cancelled, or the client is not allowed): its error
            # code is a registered token (RFC 6749 4.1.2.1), shown only when it is one
            error = params["error"] if params["error"].replace("_", "").isalpha() else "error"
            return _fail(
                401,
                f"the identity provider refused the sign-in ({error})",
                "provider-refused",
                login.name,
                done,
            )
        code = params.get("code")
        if not code:
            return _fail(400, "the callback carries no code", "no-code", login.name, done)
        try:
            endpoints = await login.discovery.get()
            answer = await exchange_code(self.post, endpoints.token, code, flow, login.client)
        except (DiscoveryError, ExchangeError):
            return _fail(
                502, "the identity provider did not complete the sign-in", "exchange-failed", login.name, done
            )
        try:
            payload = await verify_issued(login.id_tokens, answer["id_token"], now)
        except TokenInvalid as invalid:
            return _fail(
                401, f"the ID token was refused: {invalid.reason}", "id-token-invalid", login.name, done
            )
        if payload.claims.get("nonce") != flow.nonce:
            return _fail(
                401,
                "the ID token was refused: its nonce is not this sign-in's",
                "nonce-mismatch",
                login.name,
                done,
            )
        if payload.subject is None:
            return _fail(
                401, "the ID token was refused: it names no subject", "id-token-invalid", login.name, done
            )
        scopes, claims = await grants(login, answer, payload.claims, now)
        refresh = answer.get("refresh_token")
        refresh = refresh if isinstance(refresh, str) and refresh else None
        id_expires = payload.expires - login.id_tokens.skew
        expires = expiry(answer, id_expires, now, now + login.ttl) if refresh else 0.0
        session = Session(
            login.name,
            payload.subject,
            payload.issuer,
            scopes,
            {k: v for k, v in claims.items() if k not in ("nonce",)},
            passable(payload.claims.get("email")),
            now,
            now,
            random_token(),
            refresh,
            expires,
        )
        try:
            cookies_out = self._session_cookies(login, session, now, secure)
        except CookieTooLarge:
            return _fail(502, "the session is too large for a cookie", "session-too-large", login.name, done)
        return _redirect(flow.return_to, [*done, *cookies_out], "signed-in", login.name)

    async def logout(self, cookies: Mapping[str, str], origin: str, secure: bool) -> Answer:
        now = self.clock()
        cleared: list[bytes] = []
        ended: LoginProvider | None = None
        for login in self.providers.values():
            session = self.session(cookies, login.name, now)
            if session is not None:
                await self.signed_out.sign_out(session.sid, session.started + login.ttl, now)
                ended = ended or login
            cleared.extend(clear_cookies(session_cookie(login.name), secure=secure))
        if ended is not None:
            try:
                endpoints = await ended.discovery.get()
            except DiscoveryError:
                endpoints = None
            if endpoints is not None and endpoints.end_session is not None:
                location = logout_url(endpoints.end_session, ended.client_id, origin + "/")
                return _redirect(location, cleared, "signed-out", ended.name)
        return _redirect("/", cleared, "signed-out", ended.name if ended else "")
