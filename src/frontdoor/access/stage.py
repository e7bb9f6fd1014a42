"""The access stage: each route's ``access``, enforced on every request the pipeline decides.

Everything is prepared when the stage is built: what each route requires and how it is denied, the API
clients' key hashes, the providers' key sets (whose first fetch starts then, in the background). A
public route then costs one dictionary lookup; a route that needs a token already seen costs a hash, a
dictionary lookup and a few set operations, and the same token again on a keep-alive connection not even
the hash (the connection's SeenToken). Only a token signed with a key the gateway has not seen
makes the stage wait (for one refresh of that provider's keys, shared with every other such request).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from hashlib import sha256
from typing import Final

from frontdoor.access.apiclients import ApiClients, load_api_clients
from frontdoor.access.cookies import CookieTooLarge, request_cookies
from frontdoor.access.decide import RouteAccess
from frontdoor.access.keys import FETCH_TIMEOUT_S, GetJson, KeySet, http_get_json
from frontdoor.access.session import Session
from frontdoor.access.signedout_store import signed_out_store
from frontdoor.access.signin import SignIn
from frontdoor.access.tokens import KeyUnknown, SeenToken, TokenInvalid, TokenVerifier, VerifiedToken
from frontdoor.http.fields import field_lines
from frontdoor.http.h1 import RequestHead
from frontdoor.plan import Plan, PlannedRoute
from frontdoor.policy.admission import Admission, Denial, StageContext, Verdict

log = logging.getLogger("frontdoor.access")

AUTHORIZATION: Final = b"authorization"
API_KEY: Final = b"x-api-key"
# How long a request waits for its provider's keys: both fetches of a refresh, and a little slack
# (urllib's timeout does not cover name resolution).
REFRESH_WAIT_S = 2 * FETCH_TIMEOUT_S + 1.0
_UNKNOWN_KEY = "the token's signing key is not known"


class _Repeated(Exception):
    """A credential field the request sent more than once."""


def _value(head: RequestHead, lowered: bytes) -> bytes | None:
    """The value of the credential field ``lowered`` (http/fields.py CREDENTIALS, lowercase), None when
    the request has none; raises _Repeated when it has more than one. The reader sorted those among the
    few special fields, names lowered; a head built otherwise is searched whole (the length test skips
    most names without lowering them). No list is made: this runs on every request of such a route."""
    found: bytes | None = None
    if head.plain is not None:
        for lower, _, value in head.special:
            if lower == lowered:
                if found is not None:
                    raise _Repeated
                found = value
        return found
    size = len(lowered)
    for name, value in head.headers:
        if len(name) == size and name.lower() == lowered:
            if found is not None:
                raise _Repeated
            found = value
    return found


def _browser(head: RequestHead) -> bool:
    """A person's browser navigating (GET or HEAD, asking for HTML): it may be sent to sign in. A request
    asking for JSON or anything else is answered 401, never redirected."""
    if head.method not in ("GET", "HEAD"):
        return False
    accept = b",".join(v for n, v in head.headers if len(n) == 6 and n.lower() == b"accept")
    return b"text/html" in accept.lower()


def _no_session(admission: Admission, needs: RouteAccess) -> Denial:
    """A browser is sent to sign in; anything else is answered as a request without a token."""
    if _browser(admission.head):
        return needs.sign_in(admission.target or admission.path)
    return needs.no_token


class AccessStage:
    name = "access"

    def __init__(
        self,
        plan: Plan,
        *,
        clock: Callable[[], float] = time.time,
        get_json: GetJson = http_get_json,
        keys_clock: Callable[[], float] = time.monotonic,
        fetch_keys: bool = True,
        context: StageContext | None = None,
    ) -> None:
        identity = plan.edge.spec.identity
        self.realm = plan.edge.name
        self.clock = clock
        self.api_clients: ApiClients = load_api_clients(identity, plan.environment_doc)
        self.keysets = [KeySet(p, get_json, keys_clock) for p in identity.providers]
        claims = {name for _, route in plan.routes() for name in route.access.claims}
        self.tokens = TokenVerifier(list(zip(identity.providers, self.keysets, strict=True)), claims, clock)
        self.cache = self.tokens.cache  # read here directly: a repeated token is one lookup
        # the providers that sign browsers in; their sessions are read here, their paths served by the
        # process (serve's exchange, authz's service) through this same object
        self.signin = SignIn(
            list(zip(identity.providers, self.keysets, strict=True)),
            plan.environment_doc,
            frozenset(claims),
            clock=clock,
            get_json=get_json,
            owner=plan.edge.owner,
            # shared with the deployment's other processes only when someone can sign in at all
            signed_out=(
                signed_out_store(plan, context.state_dir)
                if context is not None and any(p.login for p in identity.providers)
                else None
            ),
        )
        # by id(route): None for a public route. The stage keeps the plan, so these ids stay its routes'.
        self.routes: dict[int, RouteAccess | None] = {}
        needs_user = False
        for _, route in plan.routes():
            self.routes[id(route)] = self._needs(route)
            needs_user = needs_user or route.access.requires_user
        self.plan = plan
        # the route of the last request that was one of the plan's, and its entry of self.routes
        self._last_route: PlannedRoute | None = None
        self._last_needs: RouteAccess | None = None
        self._reported = False
        if fetch_keys and needs_user:
            for keyset in self.keysets:
                keyset.refresh()

    def _needs(self, route: PlannedRoute) -> RouteAccess | None:
        if route.access.is_public:
            return None
        return RouteAccess(route.access, self.realm, self.api_clients.certificate_clients)

    def check(self, admission: Admission) -> Verdict:
        route = admission.route
        if route is self._last_route:  # the same route as the request before: no id() and no lookup
            needs = self._last_needs
        else:
            try:
                needs = self.routes[id(route)]
            except KeyError:  # a route of another plan: decided from its own access, never let through blind
                needs = self._needs(route)
            else:
                self._last_route = route
                self._last_needs = needs
        if needs is None:
            return None
        head = admission.head
        if needs.clients:
            denial = self._client(admission, needs, head)
            if denial is not None:
                return denial
        if not needs.user:
            return None
        try:
            value = _value(head, AUTHORIZATION)
        except _Repeated:
            return needs.invalid("the request has more than one Authorization header")
        if value is None:
            if needs.login is not None:
                return self._session(admission, needs)
            return needs.no_token
        now = self.clock()
        seen = admission.seen
        if isinstance(seen, SeenToken) and seen.verifier is self.tokens and seen.value == value:
            # what this connection sent last time, verified then: no parsing, no hash; believed only
            # while it is current, as a cache entry is
            verified = seen.verified
            if verified is not None and verified.current(now):
                if seen.allowed is needs:  # found enough for this route before: the same answer
                    self._identify(admission, verified)
                    return None
                denial = self._admit(admission, needs, verified)
                if denial is None:
                    seen.allowed = needs
                return denial
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"bearer":
            return needs.no_token  # another scheme (Basic, ...) is no bearer token at all (RFC 6750 3.1)
        token = token.strip(b" ")
        if not token:
            return needs.invalid("the bearer token is missing")
        digest = sha256(token).digest()  # token_digest, inlined
        verified = self.cache.get(digest)
        if verified is None or not verified.current(now):
            return self._verify_and_admit(admission, needs, value, token, digest, now)
        self._remember(admission, value, verified)
        return self._admit(admission, needs, verified)

    def _session(self, admission: Admission, needs: RouteAccess) -> Verdict:
        """A request without a bearer token on a route that signs browsers in: its session, or a
        browser sent to sign in; anything else (an API client, a script) is answered as without login.
        A session whose tokens are about to expire waits for their refresh (only that request: the
        token call runs in a thread)."""
        assert needs.login is not None
        head = admission.head
        cookies = request_cookies(head)
        now = self.clock()
        session = self.signin.session(cookies, needs.login, now) if cookies else None
        if session is None:
            return _no_session(admission, needs)
        if self.signin.due(session, now):
            return self._after_session_refresh(admission, needs, session)
        return self._session_admits(
            admission, needs, session, self.signin.touched(session, now, admission.secure)
        )

    async def _after_session_refresh(
        self, admission: Admission, needs: RouteAccess, session: Session
    ) -> Denial | None:
        fresh = await self.signin.refreshed(session)
        if fresh is None:
            return _no_session(admission, needs)
        try:
            cookies = self.signin.cookies(fresh, self.clock(), admission.secure)
        except CookieTooLarge:
            return _no_session(admission, needs)
        return self._session_admits(admission, needs, fresh, cookies)

    def _session_admits(
        self, admission: Admission, needs: RouteAccess, session: Session, cookies: list[bytes]
    ) -> Denial | None:
        if not needs.allows(session):
            return needs.insufficient
        admission.subject = session.subject
        admission.scopes = session.scopes
        admission.issuer = session.issuer
        headers = session.headers()
        admission.add_upstream_fields(headers, field_lines(headers))
        for cookie in cookies:
            admission.add_response_header(b"set-cookie", cookie)
        return None

    def _remember(self, admission: Admission, value: bytes, verified: VerifiedToken) -> None:
        """Keep what the connection sent, and what it verified as, for its next request."""
        seen = admission.seen
        if isinstance(seen, SeenToken):
            seen.value = value
            seen.verified = verified
            seen.verifier = self.tokens
            seen.allowed = None

    def _verify_and_admit(
        self, admission: Admission, needs: RouteAccess, value: bytes, token: bytes, digest: bytes, now: float
    ) -> Verdict:
        """A token not in the cache (or no longer valid there): verify it, or wait for its keys."""
        try:
            verified = self._verify(token, digest, now)
        except TokenInvalid as exc:
            return needs.invalid(exc.reason)
        except KeyUnknown as unknown:
            pending = unknown.keyset.refresh(unknown_key=True)
            if pending is None:
                return needs.invalid(_UNKNOWN_KEY)
            return self._after_refresh(pending, admission, needs, value, token, digest)
        self._remember(admission, value, verified)
        return self._admit(admission, needs, verified)

    def _verify(self, token: bytes, digest: bytes, now: float) -> VerifiedToken:
        try:
            return self.tokens.verify(token, digest, now)
        except (TokenInvalid, KeyUnknown):
            raise
        except Exception:
            # A token the libraries choke on is refused like any invalid one, never a 500; the trace
            # is logged (once: an attacker must not be able to flood the log) to find the bug.
            if not self._reported:
                self._reported = True
                log.exception("verifying a bearer token failed unexpectedly; such tokens are refused")
            raise TokenInvalid("the token is not valid") from None

    def _client(self, admission: Admission, needs: RouteAccess, head: RequestHead) -> Denial | None:
        certificate = admission.certificate
        if certificate is not None:
            # a verified client certificate that is a declared client identifies it like a key would
            client = self.api_clients.recognize(certificate)
            if client is not None:
                return self._client_is(admission, needs, client)
        try:
            key = _value(head, API_KEY)
        except _Repeated:
            return needs.bad_key
        if key is None:
            return needs.no_key
        client = self.api_clients.identify(key)
        if client is None:
            return needs.bad_key
        return self._client_is(admission, needs, client)

    @staticmethod
    def _client_is(admission: Admission, needs: RouteAccess, client: str) -> Denial | None:
        if client not in needs.clients:
            return needs.client_refused
        admission.api_client = client
        admission.add_upstream_header(b"x-frontdoor-client", client.encode("ascii"))
        return None

    @staticmethod
    def _admit(admission: Admission, needs: RouteAccess, verified: VerifiedToken) -> Denial | None:
        """A verified token: enough for this route (403 if not), and who it is, for the upstream."""
        # RouteAccess.allows, with the common case (scopes only) spelled out: no call for it
        if (needs.scopes and not needs.scopes <= verified.scopes) or (
            needs.claims and not needs.allows(verified)
        ):
            return needs.insufficient
        AccessStage._identify(admission, verified)
        return None

    @staticmethod
    def _identify(admission: Admission, verified: VerifiedToken) -> None:
        """Who a token admitted for its route is: for the upstream, the access log and authz."""
        admission.subject = verified.subject
        admission.scopes = verified.scopes
        admission.issuer = verified.issuer
        admission.add_upstream_fields(verified.headers, verified.lines)

    async def _after_refresh(
        self,
        pending: Future[None],
        admission: Admission,
        needs: RouteAccess,
        value: bytes,
        token: bytes,
        digest: bytes,
    ) -> Denial | None:
        """Wait for the provider's keys (the refresh every such request shares), then decide once more;
        a key still unknown is a 401, and never another fetch."""
        try:
            await asyncio.wait_for(asyncio.wrap_future(pending), REFRESH_WAIT_S)
        except TimeoutError:
            return needs.invalid(_UNKNOWN_KEY)
        now = self.clock()
        try:
            verified = self._verify(token, digest, now)
        except TokenInvalid as exc:
            return needs.invalid(exc.reason)
        except KeyUnknown:
            return needs.invalid(_UNKNOWN_KEY)
        self._remember(admission, value, verified)
        return self._admit(admission, needs, verified)
