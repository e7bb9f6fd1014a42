"""The table of requests that `frontdoor serve` and `frontdoor authz` must decide alike: sent to serve and
to authz in every dialect by test_parity.py, and through the rendered ``nginx.conf`` (with a real nginx
asking a real authz) by test_render_nginx.py. Both run it against an :class:`AccessContract`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from frontdoor.idp.tokens import mint

from .authz_support import BATCH_KEY

#: the identity the upstream receives on an allow (absent and empty are the same: nothing to claim)
IDENTITY = ("x-frontdoor-subject", "x-frontdoor-scopes", "x-frontdoor-client", "x-frontdoor-issuer")


class Issuing(Protocol):
    """A contract whose Edge trusts the local identity provider (AccessContract, the matrix's)."""

    @property
    def issuer(self) -> str: ...


class Minter(Protocol):
    """What a case needs from its test's setup to build its headers: the contract whose identity
    provider issues the tokens, and that provider's state directory (its signing keys)."""

    @property
    def contract(self) -> Issuing: ...

    @property
    def state(self) -> Path: ...


Headers = Callable[[Minter], dict[str, str]]


def bearer(**kwargs: Any) -> Headers:
    """A token from the setup's identity provider, minted when the case runs."""

    def make(setup: Minter) -> dict[str, str]:
        token = mint(state=setup.state, issuer=setup.contract.issuer, **kwargs)
        return {"Authorization": "Bearer " + token}

    return make


def fixed(**headers: str) -> Headers:
    return lambda _setup: {name.replace("_", "-"): value for name, value in headers.items()}


@dataclass
class Case:
    name: str
    method: str
    path: str
    headers: Headers = field(default_factory=fixed)
    expected: int | None = None  # what serve answers; None: whatever it is, the others must agree
    host: str = "shop.test"
    subject: str | None = None  # the subject the upstream must see on an allow
    prime: bool = False  # send it once to each process first (to use up a rate limit)

    @property
    def slug(self) -> str:
        return self.name.replace(" ", "-")


CASES = [
    Case("public route", "GET", "/shop/items?color=red", expected=200),
    Case("public exact route", "GET", "/exact", expected=200),
    Case("public route on a subdomain", "GET", "/shop", host="eu.shop.test", expected=200),
    Case("protected route without a token", "GET", "/orders/7", expected=401),
    Case("authenticated route without a token", "GET", "/me", expected=401),
    Case("API-client route without a key", "GET", "/batch/run", expected=401),
    Case("unknown path", "GET", "/nowhere", expected=404),
    Case("unknown host", "GET", "/shop", host="elsewhere.test", expected=404),
    Case("wrong method", "DELETE", "/exact", expected=405),
    Case("path climbing above the root", "GET", "/shop/../../etc/passwd", expected=400),
    # Gateway API precedence: "=/orders/settle" takes PUT only; other methods fall back to "/orders"
    Case("method falls back to a shorter path", "GET", "/orders/settle", expected=401),
    Case("exact route with its method", "PUT", "/orders/settle", expected=200),
    Case("no matching path allows the method", "DELETE", "/orders/settle", expected=405),
    # the upstream sees the normalized path (the 200s compare what it received)
    Case("dot segments removed", "GET", "/shop/./a/../b?x=%41", expected=200),
    Case("encoded unreserved characters decoded", "GET", "/%73hop/%7Eme", expected=200),
    Case("encoded NUL", "GET", "/shop/7%00", expected=400),
    Case("encoded control character", "GET", "/shop/7%0a", expected=400),
    Case(
        "forged identity on a public route",
        "GET",
        "/shop",
        fixed(X_Frontdoor_Subject="root", X_Frontdoor_Client="batch", X_Frontdoor_Scopes="orders:write"),
        expected=200,
    ),
    Case(
        "forged identity on a protected route",
        "GET",
        "/orders/7",
        fixed(X_Frontdoor_Subject="alice", X_Frontdoor_Scopes="orders:read"),
        expected=401,
    ),
    Case("garbage bearer token", "GET", "/orders/7", fixed(Authorization="Bearer not.a.token"), expected=401),
    Case("rate-limited", "GET", "/limited", expected=429, prime=True),
]
TOKEN_CASES = [
    Case(
        "valid token",
        "GET",
        "/orders/7",
        bearer(subject="alice", scopes=["orders:read"]),
        200,
        subject="alice",
    ),
    Case(
        "valid ES256 token",
        "GET",
        "/me",
        bearer(subject="bob", algorithm="ES256"),
        200,
        subject="bob",
    ),
    Case(
        "fallback route with its scope",
        "GET",
        "/orders/settle",
        bearer(subject="alice", scopes=["orders:read"]),
        200,
        subject="alice",
    ),
    Case("insufficient scope", "GET", "/orders/7", bearer(subject="alice", scopes=["catalog:write"]), 403),
    Case("scope of another method", "POST", "/orders", bearer(subject="alice", scopes=["orders:read"]), 403),
    Case(
        "claim matches", "GET", "/admin", bearer(subject="ada", claims={"role": "admin"}), 200, subject="ada"
    ),
    Case("claim does not match", "GET", "/admin", bearer(subject="eve", claims={"role": "user"}), 403),
    Case("expired token", "GET", "/orders/7", bearer(subject="alice", scopes=["orders:read"], ttl=-120), 401),
    Case("wrong audience", "GET", "/me", bearer(subject="alice", audiences=["other-api"]), 401),
    Case("API key", "GET", "/batch/run", fixed(X_Api_Key=BATCH_KEY), 200),
    Case("wrong API key", "GET", "/batch/run", fixed(X_Api_Key="not-the-key"), 401),
    Case("token where an API client is required", "GET", "/batch/run", bearer(subject="alice"), 401),
]
ALL_CASES = (*CASES, *TOKEN_CASES)


def upstream_identity(status: int, body: bytes) -> dict[str, str]:
    """The identity headers a demo upstream echoed (all empty when the request did not reach it)."""
    seen: dict[str, str] = json.loads(body)["headers"] if status == 200 else {}
    return {name: seen.get(name, "") for name in IDENTITY}
