"""The protocol half of signing a browser in: OAuth 2.0 authorization code flow (RFC 6749 4.1) with
PKCE (RFC 7636, S256 only), ``state`` against cross-site request forgery, and OIDC's ``nonce`` tying the
ID token to this sign-in (OpenID Connect Core 1.0, 3.1), and the refresh of a session's tokens
(RFC 6749 6). No I/O but those two token requests, each in a thread."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from frontdoor.access.keys import FETCH_TIMEOUT_S, MAX_DOCUMENT_BYTES

CALLBACK_PATH = "/_frontdoor/callback"
LOGOUT_PATH = "/_frontdoor/logout"
START_PATH = "/_frontdoor/start"  # where an ingress sends a browser to sign in (authz)


class ExchangeError(Exception):
    """The token endpoint refused the code or could not be reached; safe to log (no code, no token)."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def random_token() -> str:
    """256 random bits, URL-safe: a state, a nonce or a PKCE verifier (43 characters, RFC 7636 4.1)."""
    return _b64url(secrets.token_bytes(32))


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 4.2, S256: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class Flow:
    """One sign-in in progress: what the browser keeps (sealed) until it comes back."""

    provider: str
    state: str
    nonce: str
    verifier: str
    return_to: str
    redirect_uri: str
    started: float

    def to_json(self) -> bytes:
        return json.dumps(
            [
                self.provider,
                self.state,
                self.nonce,
                self.verifier,
                self.return_to,
                self.redirect_uri,
                self.started,
            ]
        ).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Flow | None:
        try:
            p, s, n, v, r, u, t = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if not all(isinstance(x, str) for x in (p, s, n, v, r, u)) or not isinstance(t, int | float):
            return None
        return cls(p, s, n, v, r, u, float(t))


def new_flow(provider: str, return_to: str, redirect_uri: str, now: float) -> Flow:
    return Flow(provider, random_token(), random_token(), random_token(), return_to, redirect_uri, now)


def authorization_url(endpoint: str, client_id: str, scopes: Sequence[str], flow: Flow) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": flow.redirect_uri,
        "scope": " ".join(scopes),
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": pkce_challenge(flow.verifier),
        "code_challenge_method": "S256",
    }
    if "offline_access" in scopes:
        # Core 11: a request for offline access asks for consent, or the provider drops the scope
        params["prompt"] = "consent"
    query = urlencode(params, quote_via=quote)
    return endpoint + ("&" if urlsplit(endpoint).query else "?") + query


def logout_url(endpoint: str, client_id: str, post_logout_redirect_uri: str) -> str:
    """OpenID Connect RP-Initiated Logout 1.0, 3: the provider ends its own session too."""
    query = urlencode({"client_id": client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
    return endpoint + ("&" if urlsplit(endpoint).query else "?") + query


PostForm = Callable[[str, dict[str, str], tuple[str, str], float], dict[str, Any]]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a code is only ever sent to the token endpoint itself


_OPENER = urllib.request.build_opener(_NoRedirect)


def http_post_form(url: str, form: dict[str, str], client: tuple[str, str], timeout: float) -> dict[str, Any]:
    """POST ``form`` to the token endpoint with client_secret_basic (RFC 6749 2.3.1: both parts
    form-urlencoded before base64) and read its JSON answer."""
    user, password = (quote(part, safe="") for part in client)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    request = urllib.request.Request(
        url,
        data=urlencode(form).encode("ascii"),
        headers={
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": "frontdoor",
        },
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ExchangeError(f"the token endpoint answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ExchangeError(f"the token endpoint could not be reached ({type(exc).__name__})") from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise ExchangeError("the token endpoint did not answer JSON") from None
    if not isinstance(answer, dict):
        raise ExchangeError("the token endpoint did not answer a JSON object")
    return answer


async def exchange_code(
    post: PostForm, token_endpoint: str, code: str, flow: Flow, client: tuple[str, str]
) -> dict[str, Any]:
    """The token response for ``code``; its id_token is still to be verified."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier,
    }
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, post, token_endpoint, form, client, FETCH_TIMEOUT_S)
    if not isinstance(answer.get("id_token"), str):
        raise ExchangeError("the token response has no id_token")
    return answer


async def refresh_tokens(
    post: PostForm, token_endpoint: str, refresh_token: str, client: tuple[str, str]
) -> dict[str, Any]:
    """The token response for a refresh (RFC 6749 6): a new access token, often a new ID token and a
    new refresh token (rotation). In a thread, as the code exchange: the event loop goes on serving
    other requests while the token endpoint answers."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, post, token_endpoint, form, client, FETCH_TIMEOUT_S)
    if not isinstance(answer.get("access_token"), str) and not isinstance(answer.get("id_token"), str):
        raise ExchangeError("the refresh response has no token")
    return answer
