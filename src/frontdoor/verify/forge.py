"""Tokens that no edge may accept, made locally with a key thrown away after the run.

Each carries the claims a real one would (the provider's issuer and audience, every scope and claim the
contract asks for), so an edge that skips a check admits it and the probe shows the open door; only the
one thing under test is wrong. None is ever valid: even the "expired" and "wrong audience" ones are
signed with a key the identity provider never published, so an edge that accepts them also ignores
signatures.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from frontdoor.contract.models import Edge, Provider
from frontdoor.plan import PlannedEntrypoint

#: forged variant -> what it tests
VARIANTS: Mapping[str, str] = {
    "forged-signature": "a token signed with a key the identity provider never published",
    "expired": "a token that expired an hour ago",
    "alg-none": "an unsigned token (alg: none)",
    "wrong-audience": "a token for another audience",
}
WRONG_AUDIENCE = "frontdoor-verify-not-an-audience"


@dataclass(frozen=True)
class Forged:
    variant: str
    token: str

    @property
    def about(self) -> str:
        return VARIANTS[self.variant]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signer(provider: Provider) -> tuple[str, Any]:
    """An algorithm the provider accepts and a fresh key for it (EC is quicker to make than RSA)."""
    if "ES256" in provider.algorithms:
        return "ES256", ec.generate_private_key(ec.SECP256R1())
    return "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)


def forge(
    provider: Provider,
    scopes: Sequence[str],
    claims: Mapping[str, object],
    now: float | None = None,
) -> list[Forged]:
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": str(provider.issuer),
        "sub": "frontdoor-verify",
        "aud": provider.audiences[0],
        "iat": issued,
        "nbf": issued,
        "exp": issued + 600,
        "jti": secrets.token_hex(8),
        **claims,
    }
    if scopes:
        payload[provider.scopes_claim] = list(scopes) if provider.scopes_claim == "scp" else " ".join(scopes)
    algorithm, key = _signer(provider)
    kid = "frontdoor-verify-" + secrets.token_hex(4)  # a key id the provider does not publish

    def signed(body: dict[str, Any]) -> str:
        return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})

    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{header}.{_b64(json.dumps(payload).encode())}."
    return [
        Forged("forged-signature", signed(payload)),
        Forged(
            "expired", signed(payload | {"iat": issued - 7200, "nbf": issued - 7200, "exp": issued - 3600})
        ),
        Forged("alg-none", unsigned),
        Forged("wrong-audience", signed(payload | {"aud": WRONG_AUDIENCE})),
    ]


def forged_for(edge: Edge, entrypoint: PlannedEntrypoint) -> list[Forged]:
    """The forged tokens for an entrypoint: for the Edge's first provider, carrying every scope and claim
    the entrypoint's routes ask for; none when the Edge trusts no provider."""
    providers = edge.spec.identity.providers if edge.spec.identity is not None else ()
    if not providers:
        return []
    scopes = sorted({s for route in entrypoint.routes for s in route.access.scopes})
    claims: dict[str, object] = {}
    for route in entrypoint.routes:
        claims.update(route.access.claims)
    return forge(providers[0], scopes, claims)
