"""What one route's ``access`` requires, computed once, and the answers it gives when it is not met.

``authenticated``, ``scopes`` and ``claims`` need an end-user bearer token; ``clients`` needs the API
key or the verified client certificate of one of the listed clients; a mapping with both needs both
(docs/contract.md). The 401 and 403 answers follow RFC 6750 3: a request without a bearer token gets a
challenge without an ``error``; an invalid token ``error="invalid_token"``; a valid token that is not
enough ``error="insufficient_scope"`` with the route's scopes. They are built once per route and cause,
so denying allocates nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from frontdoor.access.session import Session
from frontdoor.access.signin import start_location
from frontdoor.access.tokens import VerifiedToken
from frontdoor.contract.models import AccessRule
from frontdoor.contract.values import ClaimScalar
from frontdoor.policy.admission import Denial
from frontdoor.policy.denykind import DenyKind

WWW_AUTHENTICATE: Final = b"www-authenticate"


def claim_matches(actual: object, expected: ClaimScalar) -> bool:
    """Equal to the value, or, for a list claim, containing it. JSON types are kept apart:
    ``true`` is not ``1`` and ``"1"`` is not ``1``."""
    if isinstance(actual, list):
        return any(_same(item, expected) for item in actual)
    return _same(actual, expected)


def _same(actual: object, expected: ClaimScalar) -> bool:
    if isinstance(expected, bool):
        return actual is expected
    if isinstance(expected, int):
        return isinstance(actual, int | float) and not isinstance(actual, bool) and actual == expected
    return isinstance(actual, str) and actual == expected


class RouteAccess:
    """One route's requirements, and its denials."""

    __slots__ = (
        "_invalid",
        "bad_key",
        "claims",
        "clause",
        "client_refused",
        "clients",
        "insufficient",
        "login",
        "no_key",
        "no_token",
        "realm",
        "scopes",
        "user",
    )

    def __init__(
        self, access: AccessRule, realm: str, certificate_clients: frozenset[str] = frozenset()
    ) -> None:
        self.user = access.requires_user
        self.scopes = frozenset(access.scopes)
        self.claims: tuple[tuple[str, ClaimScalar], ...] = tuple(access.claims.items())
        self.clients = frozenset(access.clients)
        self.login = access.login  # the provider that signs a browser in, or None
        self.realm = realm
        self.clause = f"access: {access.describe()}"
        bearer = f'Bearer realm="{realm}"'.encode("ascii")
        api_key = f'ApiKey realm="{realm}", header="X-Api-Key"'.encode("ascii")
        self.no_token = self._deny(
            401, "this route needs a bearer token", "no token", (WWW_AUTHENTICATE, bearer)
        )
        both = "an API key and a bearer token" if self.user else "an API key"
        challenges = [(WWW_AUTHENTICATE, api_key)]
        if self.user:
            challenges.append((WWW_AUTHENTICATE, bearer))
        self.no_key = self._deny(401, f"this route needs {both}", "no api key", *challenges)
        if self.clients and self.clients <= certificate_clients:
            # only certificate clients may call it: no key would do, so no key is asked for (403: the
            # TLS layer, not an Authorization header, is where the client proves itself)
            self.no_key = self._deny(
                403,
                "this route needs the client certificate of an allowed API client",
                "no client certificate",
            )
        elif self.clients & certificate_clients:
            self.no_key = self._deny(
                401, f"this route needs {both} or a client certificate", "no api key", *challenges
            )
        self.bad_key = self._deny(
            401, "the API key is not valid", "unknown api key", (WWW_AUTHENTICATE, api_key)
        )
        self.client_refused = self._deny(403, "this API client may not call this route", "client refused")
        scope_text = " ".join(access.scopes)
        challenge = f'Bearer realm="{realm}", error="insufficient_scope"'
        if scope_text:
            challenge += f', scope="{scope_text}"'
        wants = []
        if scope_text:
            wants.append(f"the scope{'s' if len(self.scopes) > 1 else ''} {scope_text}")
        if self.claims:
            wants.append("the claims")  # which ones is the contract's business, not the caller's
        reason = (
            "the token does not carry " + " and ".join(wants) + " this route requires"
            if wants
            else "the token is not enough for this route"
        )
        self.insufficient = self._deny(
            403,
            reason,
            "insufficient scope",
            (WWW_AUTHENTICATE, challenge.encode("ascii")),
        )
        self._invalid: dict[str, Denial] = {}

    def _deny(self, status: int, reason: str, cause: str, *headers: tuple[bytes, bytes]) -> Denial:
        return Denial(status, reason, f"{self.clause} ({cause})", tuple(headers), DenyKind.ACCESS)

    def invalid(self, reason: str) -> Denial:
        """401 invalid_token with ``reason``; one Denial per reason, made the first time it is needed."""
        denial = self._invalid.get(reason)
        if denial is None:
            challenge = f'Bearer realm="{self.realm}", error="invalid_token"'.encode("ascii")
            denial = self._invalid[reason] = self._deny(
                401, reason, "invalid token", (WWW_AUTHENTICATE, challenge)
            )
        return denial

    def sign_in(self, return_to: str) -> Denial:
        """A browser without a session: to the gateway's own start of the sign-in (signin.py), which
        checks ``return_to`` again before it is used."""
        assert self.login is not None
        location = start_location(self.login, return_to).encode("ascii")
        return Denial(
            302,
            "sign in first",
            f"{self.clause} (no session)",
            ((b"location", location), (b"cache-control", b"no-store")),
            DenyKind.SIGN_IN,
        )

    def allows(self, token: VerifiedToken | Session) -> bool:
        if self.scopes and not self.scopes <= token.scopes:
            return False
        if self.claims:
            claims: Mapping[str, Any] = token.claims
            for name, value in self.claims:
                if not claim_matches(claims.get(name), value):
                    return False
        return True
