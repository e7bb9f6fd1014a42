"""One identity provider a browser signs in with (a provider's ``login`` block), and what the tokens it
issues grant: the ID token verified as bearer tokens are, the access token's scopes and claims, and
when the first of them expires. access/signin.py runs the flows and the sessions with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.exceptions import PyJWTError

from frontdoor.access.discovery import Discovery
from frontdoor.access.keys import GetJson, KeySet
from frontdoor.access.sealing import Sealer, SealingError
from frontdoor.access.tokens import KeyUnknown, ProviderVerifier, TokenInvalid
from frontdoor.contract.models import Environment, Provider
from frontdoor.errors import FrontdoorError
from frontdoor.secretstore import SecretUnavailable, read_secret

_JWT = jwt.PyJWT()


class SignInError(FrontdoorError):
    """A login block that cannot be used (a secret missing, a cookie key too short)."""


class LoginProvider:
    """One provider with a ``login`` block: its client, keys, endpoints and session rules."""

    def __init__(
        self,
        provider: Provider,
        keyset: KeySet,
        environment: Environment,
        claims: frozenset[str],
        get_json: GetJson,
    ) -> None:
        login = provider.login
        assert login is not None
        self.name = provider.name
        self.client_id = login.client_id
        self.scopes = login.scopes
        self.ttl = login.session.ttl
        self.idle = login.session.idle
        try:
            secret = read_secret(login.client_secret, environment).decode("utf-8").strip()
            keys = [read_secret(ref, environment).strip() for ref in login.cookie_keys]
            self.sessions = Sealer(keys, "session " + provider.name)
            self.flows = Sealer(keys, "signin " + provider.name)
        except (SecretUnavailable, SealingError, UnicodeDecodeError) as exc:
            raise SignInError(f"provider {provider.name}: its login cannot be used: {exc}") from None
        self.client = (login.client_id, secret)
        # the ID token: the bearer tokens' verifier, with the client as its only audience (Core 3.1.3.7)
        wanted = claims | {"nonce", "email"}
        self.id_tokens = ProviderVerifier(
            provider.model_copy(update={"audiences": (login.client_id,)}), keyset, wanted
        )
        # the access token, when it is a JWT for the provider's API audiences: its scopes and claims
        self.access_tokens = ProviderVerifier(provider, keyset, claims)
        self.keyset = keyset
        self.discovery = Discovery(str(provider.issuer), get_json)


async def verify_issued(verifier: ProviderVerifier, token: object, now: float) -> Any:
    """A token from the provider's token endpoint, verified as bearer tokens are; a key not seen yet is
    fetched once, as for them."""
    if not isinstance(token, str):
        raise TokenInvalid("the token is malformed")
    raw = token.encode("ascii", "replace")
    try:
        return _verify_once(verifier, raw, now)
    except KeyUnknown as unknown:
        pending = unknown.keyset.refresh(unknown_key=True)
        if pending is not None:
            await asyncio.wrap_future(pending)
        try:
            return _verify_once(verifier, raw, now)
        except KeyUnknown:
            raise TokenInvalid("the token's signing key is not known") from None


async def grants(
    login: LoginProvider,
    answer: Mapping[str, Any],
    id_claims: Mapping[str, Any],
    now: float,
    scopes_before: frozenset[str] = frozenset(),
) -> tuple[frozenset[str], dict[str, Any]]:
    """What the routes check: the access token's scopes and claims when it is a JWT this gateway
    trusts; otherwise the scopes the token response granted (``scopes_before`` when it names none:
    a refresh's response may leave out scopes that did not change, RFC 6749 5.1) and the ID
    token's claims."""
    try:
        access = await verify_issued(login.access_tokens, answer.get("access_token"), now)
    except TokenInvalid:
        granted = answer.get("scope")
        scopes = frozenset(granted.split()) if isinstance(granted, str) else scopes_before
        return scopes, dict(id_claims)
    return access.scopes, {**id_claims, **access.claims}


def expiry(answer: Mapping[str, Any], id_expires: float | None, now: float, end: float) -> float:
    """When the first of the tokens just issued expires: the access token's ``expires_in`` (RFC 6749
    5.1) and the ID token's ``exp``; the session's ``end`` when neither says (no refresh then)."""
    times = [end] if id_expires is None else [id_expires]
    lifetime = answer.get("expires_in")
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
        times.append(now + float(lifetime))
    return min(times)


def _verify_once(verifier: ProviderVerifier, token: bytes, now: float) -> Any:
    try:
        header = _JWT.decode_complete(token, options={"verify_signature": False})["header"]
    except PyJWTError:
        raise TokenInvalid("the token is malformed") from None
    if "crit" in header:
        raise TokenInvalid("the token has critical header parameters the gateway does not know")
    return verifier.verify(token, header, now)
