"""Tokens from the local identity provider: signed with PyJWT, with the claims a gateway verifies."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt

from frontdoor.idp.keys import signing_keys

DEFAULT_ISSUER = "http://127.0.0.1:9400/"
DEFAULT_AUDIENCE = "shop-api"  # the example's dev Edge


def parse_claims(pairs: Sequence[str]) -> dict[str, Any]:
    """``role=admin`` -> {"role": "admin"}; a value that is JSON (``groups=["a","b"]``, ``n=3``) is
    taken as JSON. Raises ValueError for a pair without ``=``."""
    claims: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--claim {pair}: write NAME=VALUE, such as role=admin")
        try:
            claims[name] = json.loads(value)
        except ValueError:
            claims[name] = value
    return claims


def mint(
    subject: str,
    scopes: Sequence[str] = (),
    claims: dict[str, Any] | None = None,
    ttl: float = 3600,
    audiences: Sequence[str] = (DEFAULT_AUDIENCE,),
    algorithm: str = "RS256",
    issuer: str = DEFAULT_ISSUER,
    scopes_claim: str = "scope",
    state: Path | None = None,
    now: float | None = None,
) -> str:
    key = signing_keys(state)[algorithm]
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audiences[0] if len(audiences) == 1 else list(audiences),
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl),
        "jti": secrets.token_hex(8),
    }
    if scopes:
        payload[scopes_claim] = list(scopes) if scopes_claim == "scp" else " ".join(scopes)
    payload.update(claims or {})
    return jwt.encode(payload, key.private, algorithm=algorithm, headers={"kid": key.kid, "typ": "JWT"})
