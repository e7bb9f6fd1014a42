"""Bearer tokens (JWT, RFC 7519) verified against the Edge's identity providers, per RFC 8725.

What is accepted, and nothing else:

- the algorithm is one of the provider's allow-list (the contract never allows ``none`` or ``HS*``) and
  one the key itself can verify;
- the key is one of the provider's JWKS, chosen by ``kid``: ``jku``, ``x5u``, ``jwk`` and ``x5c``
  headers are never read, and a token with any ``crit`` header is refused (no extension is understood);
- ``iss`` equals the provider's issuer, ``aud`` names one of its audiences, ``exp`` is present;
  ``exp``, ``nbf`` and ``iat`` hold with the provider's ``clock_skew_s``.

With several providers, the unverified ``iss`` only chooses which provider verifies the token; the
token is then verified completely against that provider. Signatures and claims are checked by PyJWT;
only the time claims are checked here, against an injectable clock.

A verified token is cached by a hash of the token until it expires (or the cache is full), so a repeated
token costs a dictionary lookup instead of a signature check. An entry holds the key object that verified
it: when that key leaves the provider's JWKS, the entry no longer counts.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import (
    DecodeError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from frontdoor.access.keys import KeySet, SigningKey
from frontdoor.contract.models import Provider
from frontdoor.http.fields import Field, field_lines

log = logging.getLogger("frontdoor.access")

CACHE_SIZE = 10_000
# RFC 6750 2.1: b64token. A JWT is three base64url parts joined by dots, which this admits.
_B64TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")
# RFC 6749 3.3: scope-token; scopes made of anything else are not passed upstream in a header
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_JWT = jwt.PyJWT()
_UNVERIFIED: jwt.types.Options = {"verify_signature": False}
_VERIFY: jwt.types.Options = {
    "verify_signature": True,
    "verify_aud": True,
    "verify_iss": True,
    "verify_sub": True,
    # the time claims are checked below, against the verifier's clock
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_jti": False,
    "require": ["exp", "iss", "aud"],
    "enforce_minimum_key_length": True,
}


class TokenInvalid(Exception):
    """The token is refused; ``reason`` is short and safe to show: it never quotes the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyUnknown(Exception):
    """The token names a key its provider's JWKS does not hold (yet): a refresh may bring it."""

    def __init__(self, keyset: KeySet) -> None:
        super().__init__(keyset.name)
        self.keyset = keyset


@dataclass(frozen=True, slots=True, eq=False)
class VerifiedToken:
    issuer: str
    subject: str | None
    scopes: frozenset[str]
    claims: Mapping[str, Any]  # only the claims some route's access names
    expires: float  # wall-clock time from which the token is refused: exp + clock skew
    keyset: KeySet
    key: SigningKey
    headers: tuple[Field, ...]  # X-Frontdoor-Subject, -Scopes, -Issuer for the upstream
    lines: bytes  # the same, as header lines (field_lines): made once, forwarded with every request
    kid: str  # key.kid, kept here: SigningKey is not compiled, and this is read on every request

    def current(self, now: float) -> bool:
        return now < self.expires and self.keyset.keys.get(self.kid) is self.key


class ProviderVerifier:
    def __init__(self, provider: Provider, keyset: KeySet, claims: frozenset[str]) -> None:
        self.issuer = str(provider.issuer)
        self.audiences = list(provider.audiences)
        self.allowed = frozenset(provider.algorithms)
        self.skew = float(provider.clock_skew_s)
        self.scopes_claim = provider.scopes_claim
        self.keyset = keyset
        self.claims = claims
        self.issuer_header = (b"x-frontdoor-issuer", self.issuer.encode("ascii", "replace"))

    def verify(self, token: bytes, header: Mapping[str, Any], now: float) -> VerifiedToken:
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.allowed:
            raise TokenInvalid("the token's algorithm is not allowed")
        signing = self._key(header.get("kid"), algorithm)
        try:
            payload = _JWT.decode_complete(
                token,
                key=signing.key,
                algorithms=[algorithm],
                options=_VERIFY,
                audience=self.audiences,
                issuer=self.issuer,
            )["payload"]
        except InvalidSignatureError:
            raise TokenInvalid("the token's signature is not valid") from None
        except InvalidAlgorithmError:
            raise TokenInvalid("the token's algorithm is not allowed") from None
        except InvalidAudienceError:
            raise TokenInvalid("the token is not meant for this audience") from None
        except InvalidIssuerError:
            raise TokenInvalid("the token's issuer is not trusted") from None
        except MissingRequiredClaimError as exc:
            raise TokenInvalid(f"the token has no {exc.claim} claim") from None
        except (DecodeError, InvalidKeyError):
            raise TokenInvalid("the token is malformed") from None
        except PyJWTError:
            raise TokenInvalid("the token is not valid") from None
        expires = self._times(payload, now)
        return self._verified(payload, signing, expires)

    def _key(self, kid: object, algorithm: str) -> SigningKey:
        keys = self.keyset.keys
        if isinstance(kid, str) and kid:
            signing = keys.get(kid)
            if signing is None:
                raise KeyUnknown(self.keyset)
        elif kid is None or kid == "":
            # no kid: only unambiguous when exactly one key of the set verifies this algorithm
            fitting = [k for k in keys.values() if algorithm in k.algorithms]
            if not fitting:
                raise KeyUnknown(self.keyset)
            if len(fitting) > 1:
                raise TokenInvalid("the token names no key and its provider has several")
            signing = fitting[0]
        else:
            raise TokenInvalid("the token is malformed")
        if algorithm not in signing.algorithms:
            raise TokenInvalid("the token's algorithm does not fit its key")
        return signing

    def _times(self, payload: Mapping[str, Any], now: float) -> float:
        skew = self.skew
        exp = _number(payload, "exp")
        if exp is None:
            raise TokenInvalid("the token has no exp claim")
        if now >= exp + skew:
            raise TokenInvalid("the token has expired")
        for claim in ("nbf", "iat"):
            value = _number(payload, claim)
            if value is not None and value - skew > now:
                raise TokenInvalid("the token is not valid yet")
        return exp + skew

    def _verified(self, payload: Mapping[str, Any], signing: SigningKey, expires: float) -> VerifiedToken:
        headers = [self.issuer_header]
        subject = payload.get("sub")
        if not isinstance(subject, str) or not subject:
            subject = None
        elif _CONTROL.search(subject):
            raise TokenInvalid("the token's subject cannot be passed on")
        else:
            headers.append((b"x-frontdoor-subject", subject.encode("utf-8")))
        raw = payload.get(self.scopes_claim)
        # "scope" is a space-separated string and "scp" a list by the contract; some providers send
        # the other form under either name, and both mean the same set of scopes
        if isinstance(raw, str):
            listed = raw.split()
        elif isinstance(raw, list):
            listed = [s for s in raw if isinstance(s, str)]
        else:
            listed = []
        shown = " ".join(s for s in dict.fromkeys(listed) if _SCOPE_TOKEN.fullmatch(s))
        if shown:
            headers.append((b"x-frontdoor-scopes", shown.encode("ascii")))
        return VerifiedToken(
            issuer=self.issuer,
            subject=subject,
            scopes=frozenset(listed),
            claims={name: payload[name] for name in self.claims if name in payload},
            expires=expires,
            keyset=self.keyset,
            key=signing,
            headers=tuple(headers),
            lines=field_lines(headers),
            kid=signing.kid,
        )


def token_digest(token: bytes) -> bytes:
    """The cache's key for a token: never the token itself. SHA-256, hardware-accelerated in OpenSSL on
    current CPUs, measured faster here than BLAKE2b."""
    return hashlib.sha256(token).digest()


def _number(payload: Mapping[str, Any], claim: str) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid(f"the token's {claim} claim is not a number")
    return float(value)


class TokenVerifier:
    """Every provider of an Edge, and the cache of tokens they verified."""

    def __init__(
        self,
        providers: Sequence[tuple[Provider, KeySet]],
        claims: Collection[str] = (),
        clock: Callable[[], float] = time.time,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        needed = frozenset(claims)
        self.by_issuer = {str(p.issuer): ProviderVerifier(p, keys, needed) for p, keys in providers}
        self.clock = clock
        self.cache_size = cache_size
        # by token_digest; an entry no longer current stays until it is verified again or evicted
        self.cache: dict[bytes, VerifiedToken] = {}

    digest = staticmethod(token_digest)

    def cached(self, digest: bytes, now: float) -> VerifiedToken | None:
        entry = self.cache.get(digest)
        if entry is None:
            return None
        if entry.current(now):
            return entry
        del self.cache[digest]
        return None

    def verify(self, token: bytes, digest: bytes, now: float) -> VerifiedToken:
        """Verify a token that is not in the cache; raises TokenInvalid, or KeyUnknown (the caller may
        refresh that provider's keys and try again)."""
        if not _B64TOKEN.fullmatch(token):
            raise TokenInvalid("the bearer token is malformed")
        try:
            unverified = _JWT.decode_complete(token, options=_UNVERIFIED)
        except PyJWTError:
            raise TokenInvalid("the token is malformed") from None
        header, payload = unverified["header"], unverified["payload"]
        if "crit" in header:
            raise TokenInvalid("the token has critical header parameters the gateway does not know")
        issuer = payload.get("iss")
        if issuer is None:
            raise TokenInvalid("the token has no iss claim")
        provider = self.by_issuer.get(issuer) if isinstance(issuer, str) else None
        if provider is None:
            raise TokenInvalid("the token's issuer is not trusted")
        provider.keyset.refresh_if_due()
        entry = provider.verify(token, header, now)
        cache = self.cache
        cache.pop(digest, None)  # a stale entry of the same token: replaced, and counted as new
        if len(cache) >= self.cache_size:
            del cache[next(iter(cache))]  # the oldest entry first
        cache[digest] = entry
        return entry

    def __len__(self) -> int:
        return len(self.cache)


class SeenToken:
    """The Authorization field one client connection sent last, what its token verified as, and by
    which verifier (a reload brings a new one, which believes nothing of the old one's). A keep-alive
    client sends the same field request after request: comparing it with the last one costs less than
    parsing and hashing it for the shared cache. The access stage checks what it remembers as it checks
    a cache entry (expiry, signing key still held) before believing it.
    """

    __slots__ = ("allowed", "value", "verified", "verifier")

    def __init__(self) -> None:
        self.value = b""
        self.verified: VerifiedToken | None = None
        self.verifier: TokenVerifier | None = None
        # the route requirements (access/decide.py's RouteAccess) ``verified`` was last found enough
        # for: both immutable, so the same pair needs no second scope and claim check. Reset whenever
        # ``verified`` changes; a strong reference, so the object cannot be freed and another one
        # made at its address.
        self.allowed: object | None = None
