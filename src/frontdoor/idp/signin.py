"""The local identity provider's sign-in, for development: an OAuth 2.0 authorization server just
complete enough for the gateway's browser sign-in (authorization code with PKCE S256) to be tried with
``make demo``.

- ``GET /authorize``: a plain form asking for a user name (no password: anyone is whoever they type);
- ``POST /authorize``: a one-time code, sent back to the client's ``redirect_uri`` with its ``state``;
- ``POST /token``: the code and its PKCE verifier for an ID token (``aud`` = the client id, the
  ``nonce``) and an access token (the provider's audiences, the scopes asked for plus ``--scope``);
- ``GET /logout``: back to ``post_logout_redirect_uri``.

Any client id and secret are accepted, and redirect URIs must be on loopback: this is not a provider
to put anywhere but a developer's machine. The claims every person gets come from ``--claim``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from frontdoor.idp.tokens import mint

CODE_TTL_S: Final = 60
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_FIELDS: Final = ("client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge")


@dataclass(frozen=True, slots=True)
class Grant:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str
    challenge: str
    subject: str
    expires: float


@dataclass
class Desk:
    """What the provider remembers between the form and the token request: one-time codes."""

    issuer: str
    audiences: Sequence[str]
    claims: Mapping[str, Any] = field(default_factory=dict)  # every person's, from --claim
    scopes: Sequence[str] = ()  # added to every access token, from --scope
    state: Path | None = None
    codes: dict[str, Grant] = field(default_factory=dict)

    # --- GET /authorize ---------------------------------------------------------------------------

    def form(self, query: str) -> tuple[int, str]:
        """(status, HTML): the sign-in form, or why the request cannot be signed in."""
        params = _single(query)
        problem = _request_problem(params)
        if problem:
            return 400, _page("Cannot sign in", f"<p>{html.escape(problem)}</p>")
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
            for name in _FIELDS
        )
        body = (
            f"<p>{html.escape(params['client_id'])} asks you to sign in (any name will do).</p>"
            f'<form method="post" action="/authorize">{hidden}'
            '<label>User name <input name="username" value="alice" autofocus required></label> '
            '<button type="submit">Sign in</button></form>'
        )
        return 200, _page("Sign in", body)

    # --- POST /authorize --------------------------------------------------------------------------

    def authorize(self, body: bytes, now: float | None = None) -> tuple[int, str]:
        """(302, the client's redirect URI with the code), or (400, an HTML page)."""
        params = _single(body.decode("utf-8", "replace"))
        problem = _request_problem(params)
        subject = params.get("username", "").strip()
        if problem or not subject or len(subject) > 64:
            return 400, _page("Cannot sign in", f"<p>{html.escape(problem or 'a user name is needed')}</p>")
        code = secrets.token_urlsafe(32)
        moment = time.time() if now is None else now
        self._forget_expired(moment)
        self.codes[code] = Grant(
            params["client_id"],
            params["redirect_uri"],
            tuple(params.get("scope", "").split()),
            params.get("nonce", ""),
            params["code_challenge"],
            subject,
            moment + CODE_TTL_S,
        )
        query = {"code": code, "iss": self.issuer}
        if params.get("state"):
            query["state"] = params["state"]
        separator = "&" if urlsplit(params["redirect_uri"]).query else "?"
        return 302, params["redirect_uri"] + separator + urlencode(query)

    def _forget_expired(self, now: float) -> None:
        for code in [c for c, grant in self.codes.items() if grant.expires <= now]:
            del self.codes[code]

    # --- POST /token ------------------------------------------------------------------------------

    def token(
        self, body: bytes, authorization: str | None, now: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        params = _single(body.decode("utf-8", "replace"))
        client_id = params.get("client_id") or _basic_user(authorization)
        grant = self.codes.pop(params.get("code", ""), None)  # a code works once, whatever happens
        moment = time.time() if now is None else now
        if params.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        if grant is None or grant.expires <= moment:
            return 400, {"error": "invalid_grant", "error_description": "unknown, used or expired code"}
        if grant.client_id != client_id or grant.redirect_uri != params.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "another client or redirect_uri"}
        verifier = params.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or digest != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "the PKCE verifier does not match"}
        person = {**self.claims, "email": f"{grant.subject}@example.test", "name": grant.subject}
        id_token = mint(
            grant.subject,
            claims={**person, "nonce": grant.nonce} if grant.nonce else person,
            ttl=300,
            audiences=(grant.client_id,),
            issuer=self.issuer,
            state=self.state,
            now=moment,
        )
        scopes = list(dict.fromkeys([*grant.scopes, *self.scopes]))
        access = mint(
            grant.subject,
            scopes,
            dict(self.claims),
            3600,
            self.audiences,
            issuer=self.issuer,
            state=self.state,
            now=moment,
        )
        answer = {"id_token": id_token, "access_token": access, "token_type": "Bearer", "expires_in": 3600}
        return 200, {**answer, "scope": " ".join(scopes)}

    # --- GET /logout ------------------------------------------------------------------------------

    @staticmethod
    def logout(query: str) -> tuple[int, str]:
        target = _single(query).get("post_logout_redirect_uri", "")
        if target and _loopback_url(target):
            return 302, target
        return 200, _page("Signed out", "<p>You are signed out of the local identity provider.</p>")


def _single(text: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items() if len(v) == 1}


def _loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in _LOOPBACK


def _request_problem(params: Mapping[str, str]) -> str:
    if params.get("response_type", "code") != "code":
        return "only response_type=code is supported"
    if not params.get("client_id"):
        return "client_id is missing"
    if not _loopback_url(params.get("redirect_uri", "")):
        return "redirect_uri must be an http(s) URL on loopback (this provider is for development)"
    if params.get("code_challenge_method", "S256") != "S256" or not params.get("code_challenge"):
        return "PKCE with S256 is required"
    return ""


def _basic_user(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("basic "):
        return ""
    try:
        decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
    except ValueError:
        return ""
    return unquote(decoded.partition(":")[0])


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )
