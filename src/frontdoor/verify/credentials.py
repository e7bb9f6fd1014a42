"""The caller's own credentials, and which routes they should open.

A token given with ``--token CMD`` (a command that prints one, run without a shell) or ``--token-file``
is read, not verified: verify is not the edge, it only needs the scopes and claims to know which routes
must answer and which must refuse with 403. The access semantics are the gateway's own
(access/decide.py's ``claim_matches``), so verify expects exactly what serve decides. Values are never
printed.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from frontdoor.access.decide import claim_matches
from frontdoor.contract.models import AccessRule, Edge, Provider
from frontdoor.errors import FrontdoorError


class CredentialError(FrontdoorError):
    pass


@dataclass(frozen=True)
class UserToken:
    token: str
    provider: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]

    def allows(self, access: AccessRule) -> bool:
        if not set(access.scopes) <= self.scopes:
            return False
        return all(claim_matches(self.claims.get(name), value) for name, value in access.claims.items())


@dataclass(frozen=True)
class ApiKey:
    client: str
    key: str = field(repr=False)


def read_token(command: str | None, file: str | None) -> str | None:
    if command:
        try:
            done = subprocess.run(
                shlex.split(command), capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            raise CredentialError(f"--token: the command could not run: {exc}") from None
        if done.returncode != 0:
            raise CredentialError(f"--token: the command exited with {done.returncode}")
        text = done.stdout
    elif file:
        text = Path(file).read_text()
    else:
        return None
    token = text.strip()
    if not token:
        raise CredentialError("--token: no token was printed" if command else f"{file} holds no token")
    return token


def _scopes(provider: Provider, claims: Mapping[str, Any]) -> frozenset[str]:
    value = claims.get(provider.scopes_claim)
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def user_token(edge: Edge, token: str, now: float | None = None) -> UserToken:
    """The token's provider (by ``iss``), scopes and claims; refused here (exit 2) when it could never
    pass: not a JWT, from no provider of the Edge, or expired (every probe would be a false drift)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise CredentialError("--token: not a JWT") from None
    identity = edge.spec.identity
    providers = identity.providers if identity is not None else ()
    provider = next((p for p in providers if str(p.issuer) == claims.get("iss")), None)
    if provider is None:
        known = ", ".join(str(p.issuer) for p in providers) or "none"
        raise CredentialError(
            f"--token: its issuer {claims.get('iss')!r} is none of the Edge's providers ({known})"
        )
    expires = claims.get("exp")
    if isinstance(expires, int | float) and expires <= (time.time() if now is None else now):
        raise CredentialError("--token: the token has expired; give a fresh one")
    return UserToken(token, provider.name, _scopes(provider, claims), claims)


def api_keys(pairs: list[str], edge: Edge) -> list[ApiKey]:
    identity = edge.spec.identity
    declared = {c.name for c in identity.api_clients} if identity is not None else set()
    keys = []
    for pair in pairs:
        client, sep, key = pair.partition("=")
        if not sep or not client or not key:
            raise CredentialError("--api-key: write CLIENT=KEY, such as billing-batch=$BATCH_KEY")
        if client not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise CredentialError(f"--api-key: {client} is not an API client of the Edge ({known})")
        keys.append(ApiKey(client, key))
    return keys
