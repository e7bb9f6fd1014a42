"""The signing keys of one identity provider: its JWKS, kept current without ever stalling a request.

Keys come from the provider's ``jwks_uri``, or from OIDC discovery at
``{issuer}/.well-known/openid-configuration``. They are fetched when the gateway starts (a provider that
is down does not stop it), again every REFRESH_S while tokens are being verified, and early when a
token names a key not seen yet, at most once per MIN_REFRESH_S per provider: every request that meets
an unknown key while a fetch runs waits for that same fetch. A routine fetch that fails is retried
after MIN_REFRESH_S, again only while tokens are being verified. Fetching is blocking urllib in a daemon
thread, so the event loop never waits on the network; a fetch that fails keeps the keys already held.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from frontdoor.contract.models import Provider

log = logging.getLogger("frontdoor.access")

FETCH_TIMEOUT_S = 2.0  # per HTTP request; discovery and the JWKS are two
REFRESH_S = 300.0
MIN_REFRESH_S = 30.0
MAX_DOCUMENT_BYTES = 512 * 1024
MIN_RSA_BITS = 2048

GetJson = Callable[[str, float], object]  # (url, timeout) -> the parsed JSON document
Clock = Callable[[], float]

# Which algorithms a key can verify, by key type (and curve). A JWK's own "alg" narrows it further.
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_OKP_CURVES = frozenset({"Ed25519", "Ed448"})
# members that only a private or symmetric key has: a JWKS that publishes them has leaked the key
_SECRET_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class KeyFetchError(Exception):
    """A key document could not be fetched or read; the message names the URL, never a body."""


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    kid: str  # "" when the JWK has none
    key: Any  # a cryptography public key object
    algorithms: frozenset[str]  # the allowed algorithms this key may verify
    jwk: str  # the JWK, canonical JSON: an unchanged key keeps its object across refreshes


def parse_jwks(document: object, allowed: frozenset[str]) -> dict[str, SigningKey]:
    """The usable verification keys of a JWKS, by kid; keys that cannot verify an allowed algorithm,
    are not for signatures, or carry private or symmetric material are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFetchError('not a JWKS: no "keys" list')
    keys: dict[str, SigningKey] = {}
    for jwk in document["keys"]:
        signing = _signing_key(jwk, allowed)
        if signing is not None and signing.kid not in keys:  # a repeated kid: the first one counts
            keys[signing.kid] = signing
    return keys


def _signing_key(jwk: object, allowed: frozenset[str]) -> SigningKey | None:
    if not isinstance(jwk, dict):
        return None
    kid = jwk.get("kid", "")
    if not isinstance(kid, str):
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    if any(member in jwk for member in _SECRET_MEMBERS):
        log.warning("a JWKS publishes private or symmetric key material (kid %r): the key is ignored", kid)
        return None
    kty = jwk.get("kty")
    key: Any
    try:
        if kty == "RSA":
            key = RSAAlgorithm.from_jwk(jwk)
            if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
                return None
            fits = _RSA_ALGORITHMS
        elif kty == "EC":
            algorithm = _EC_ALGORITHMS.get(jwk.get("crv", ""))
            if algorithm is None:
                return None
            key = ECAlgorithm.from_jwk(jwk)
            fits = frozenset({algorithm})
        elif kty == "OKP" and jwk.get("crv") in _OKP_CURVES:
            key = OKPAlgorithm.from_jwk(jwk)
            fits = frozenset({"EdDSA"})
        else:
            return None  # "oct" (a shared secret) never verifies anything here
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    if "alg" in jwk:
        fits = fits & {jwk["alg"]}
    fits = fits & allowed
    if not fits:
        return None
    return SigningKey(kid, key, frozenset(fits), json.dumps(jwk, sort_keys=True))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keys come from exactly the configured (or discovered) URL, never from where it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http_get_json(url: str, timeout: float) -> object:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "frontdoor"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise KeyFetchError(f"{url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise KeyFetchError(f"{url} could not be fetched ({reason})") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise KeyFetchError(f"{url} sent more than {MAX_DOCUMENT_BYTES // 1024} KiB")
    try:
        return json.loads(body)
    except ValueError:
        raise KeyFetchError(f"{url} did not send JSON") from None


def discovery_url(issuer: str) -> str:
    # OpenID Connect Discovery 1.0, 4: a terminating "/" of the issuer is removed before appending.
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class KeySet:
    """One provider's keys. ``keys`` is replaced as a whole by a fetch, never changed in place, so the
    event loop reads it without a lock while a fetch thread installs a new one."""

    def __init__(
        self,
        provider: Provider,
        get_json: GetJson = http_get_json,
        clock: Clock = time.monotonic,
        timeout: float = FETCH_TIMEOUT_S,
    ) -> None:
        self.name = provider.name
        self.issuer = str(provider.issuer)
        self.jwks_uri = str(provider.jwks_uri) if provider.jwks_uri is not None else None
        self.allowed = frozenset(provider.algorithms)
        # a dict (not just a Mapping): the compiled access stage reads it with a dict's own lookup
        self.keys: dict[str, SigningKey] = {}
        self.fetches = 0  # fetch attempts started: what the at-most-once rules are about
        self._get_json = get_json
        self._clock = clock
        self._timeout = timeout
        self._discovered: str | None = None  # the jwks_uri that discovery found
        self._pending: Future[None] | None = None
        self._last_start = -math.inf  # when the last fetch started
        self._last_forced = -math.inf  # when an unknown key last started one
        self._due = -math.inf  # when the next routine refresh is due
        self._failing = False

    def refresh(self, unknown_key: bool = False) -> Future[None] | None:
        """Fetch the keys again, or join the fetch already running; returns that fetch.

        With ``unknown_key`` (a token named a key not held), a new fetch starts only if no other
        unknown key started one less than MIN_REFRESH_S ago; otherwise None. Call from the event
        loop's thread only.
        """
        pending = self._pending
        if pending is not None and not pending.done():
            return pending
        now = self._clock()
        if unknown_key:
            if now - self._last_forced < MIN_REFRESH_S:
                return None
            self._last_forced = now
        self._last_start = now
        self.fetches += 1
        future: Future[None] = Future()
        future.set_running_or_notify_cancel()  # a waiter that gives up cannot cancel it for the others
        self._pending = future
        threading.Thread(
            target=self._run, args=(future,), name=f"frontdoor-keys-{self.name}", daemon=True
        ).start()
        return future

    def refresh_if_due(self) -> None:
        if self._clock() >= self._due:
            self.refresh()

    def _run(self, future: Future[None]) -> None:
        try:
            keys = self._fetch()
        except KeyFetchError as exc:
            self._due = self._last_start + MIN_REFRESH_S
            if not self._failing:
                log.warning(
                    "identity provider %s: cannot fetch its signing keys: %s; %s",
                    self.name,
                    exc,
                    f"keeping the {len(self.keys)} held" if self.keys else "tokens it signs are refused",
                )
                self._failing = True
        except Exception:  # a bug must not leave waiters hanging; it is logged with its traceback
            self._due = self._last_start + MIN_REFRESH_S
            log.exception("identity provider %s: reading its signing keys failed", self.name)
        else:
            old = self.keys
            # an unchanged key keeps its object: tokens verified with it stay cached
            self.keys = {
                kid: old[kid] if kid in old and old[kid].jwk == k.jwk else k for kid, k in keys.items()
            }
            self._due = self._clock() + REFRESH_S
            if self._failing or set(old) != set(keys):
                log.info(
                    "identity provider %s: %d signing key(s) %s",
                    self.name,
                    len(keys),
                    ", ".join(repr(kid) for kid in sorted(keys)) or "(none usable)",
                )
            self._failing = False
        finally:
            future.set_result(None)

    def _fetch(self) -> dict[str, SigningKey]:
        uri = self.jwks_uri or self._discovered or self._discover()
        try:
            return parse_jwks(self._get_json(uri, self._timeout), self.allowed)
        except KeyFetchError:
            self._discovered = None  # the provider may have moved its keys: discover again next time
            raise

    def _discover(self) -> str:
        url = discovery_url(self.issuer)
        document = self._get_json(url, self._timeout)
        if not isinstance(document, dict):
            raise KeyFetchError(f"{url} is not an OpenID configuration")
        if document.get("issuer") != self.issuer:
            # OIDC Discovery 4.3: the document must name exactly the issuer it was fetched for
            raise KeyFetchError(f"{url} names another issuer than {self.issuer}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in ("http", "https"):
            raise KeyFetchError(f"{url} has no http(s) jwks_uri")
        if urlsplit(self.issuer).scheme == "https" and urlsplit(jwks_uri).scheme != "https":
            raise KeyFetchError(f"{url} points to keys over plain http")
        self._discovered = jwks_uri
        return jwks_uri
