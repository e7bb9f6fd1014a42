"""Token verification without sockets: RFC 8725's attacks, time claims against an injected clock,
providers chosen by issuer, and the verified-token cache."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from frontdoor.access.keys import KeySet
from frontdoor.access.tokens import KeyUnknown, TokenInvalid, TokenVerifier, VerifiedToken

from .idp import ATTACKS, IdentityProvider, attack_tokens
from .test_keys import Clock, fetched, provider

NOW = 1_900_000_000.0


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider.with_keys()


def verifier(
    *idps: IdentityProvider, clock: Clock | None = None, claims: tuple[str, ...] = ("roles",), **fields: Any
) -> TokenVerifier:
    pairs = []
    for index, source in enumerate(idps):
        spec = provider(source, name=f"idp{index}", **fields)
        keys = KeySet(spec, source.get_json, Clock())
        assert fetched(keys)
        pairs.append((spec, keys))
    return TokenVerifier(pairs, claims, clock or Clock(NOW))


def verify(tokens: TokenVerifier, token: str, now: float = NOW) -> VerifiedToken:
    raw = token.encode()
    return tokens.verify(raw, tokens.digest(raw), now)


def at(idp: IdentityProvider, **claims: Any) -> dict[str, Any]:
    """Claims issued at NOW for five minutes, with ``claims`` on top."""
    return {"iat": int(NOW), "exp": int(NOW) + 300, **claims}


def test_valid_rs256_and_es256_tokens(idp: IdentityProvider) -> None:
    tokens = verifier(idp)
    rs = verify(tokens, idp.token(**at(idp, scope="orders:read orders:write")))
    assert rs.subject == "alice" and rs.issuer == idp.issuer
    assert rs.scopes == {"orders:read", "orders:write"}
    assert dict(rs.headers) == {
        b"x-frontdoor-issuer": idp.issuer.encode(),
        b"x-frontdoor-subject": b"alice",
        b"x-frontdoor-scopes": b"orders:read orders:write",
    }
    es = verify(tokens, idp.token(kid="ec-1", alg="ES256", **at(idp)))
    assert es.key.kid == "ec-1" and es.expires == NOW + 300 + 30


@pytest.fixture(scope="module")
def attacks(idp: IdentityProvider) -> dict[str, str]:
    return attack_tokens(idp)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_tokens_are_refused(idp: IdentityProvider, attacks: dict[str, str], name: str) -> None:
    tokens = verifier(idp)
    with pytest.raises((TokenInvalid, KeyUnknown)) as refused:
        verify(tokens, attacks[name], now=time.time())
    if isinstance(refused.value, KeyUnknown):
        assert name in {"unknown kid", "jku to attacker keys"}  # only a kid the JWKS lacks may refresh
    else:
        assert isinstance(refused.value, TokenInvalid)
        assert "eyJ" not in refused.value.reason  # the reason never quotes the token
    assert len(tokens) == 0


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"exp": int(NOW) - 29}, True),  # expired 29 s ago, within 30 s of skew
        ({"exp": int(NOW) - 30}, False),
        ({"nbf": int(NOW) + 29}, True),
        ({"nbf": int(NOW) + 31}, False),
        ({"iat": int(NOW) + 29}, True),
        ({"iat": int(NOW) + 31}, False),
        ({"nbf": True}, False),
        ({"exp": "1900000300"}, False),
    ],
)
def test_time_claims_honour_the_clock_skew(
    idp: IdentityProvider, claims: dict[str, Any], accepted: bool
) -> None:
    tokens = verifier(idp)
    token = idp.token(**{**at(idp), **claims})
    if accepted:
        verify(tokens, token)
    else:
        with pytest.raises(TokenInvalid):
            verify(tokens, token)


def test_zero_skew_is_exact(idp: IdentityProvider) -> None:
    tokens = verifier(idp, clock_skew_s=0)
    with pytest.raises(TokenInvalid, match="expired"):
        verify(tokens, idp.token(**at(idp, exp=int(NOW))))
    assert verify(tokens, idp.token(**at(idp, exp=int(NOW) + 1))).expires == NOW + 1


def test_audience_may_be_a_list_that_contains_one_of_ours(idp: IdentityProvider) -> None:
    tokens = verifier(idp)
    verify(tokens, idp.token(**at(idp, aud=["billing", "shop-api"])))
    with pytest.raises(TokenInvalid, match="audience"):
        verify(tokens, idp.token(**at(idp, aud=["billing", "crm"])))


def test_scopes_from_scp_as_a_list(idp: IdentityProvider) -> None:
    tokens = verifier(idp, scopes_claim="scp")
    token = verify(tokens, idp.token(**at(idp, scope=None, scp=["orders:read", "bad scope\r\n", "a"])))
    assert token.scopes == {"orders:read", "bad scope\r\n", "a"}
    assert dict(token.headers)[b"x-frontdoor-scopes"] == b"orders:read a"  # unsafe ones never in a header


def test_a_subject_with_control_characters_is_refused(idp: IdentityProvider) -> None:
    tokens = verifier(idp)
    with pytest.raises(TokenInvalid, match="subject"):
        verify(tokens, idp.token(**at(idp, sub="alice\r\nx-frontdoor-client: billing")))
    assert verify(tokens, idp.token(**at(idp, sub="zoë"))).headers[1] == (
        b"x-frontdoor-subject",
        "zoë".encode(),
    )
    no_subject = verify(tokens, idp.token(**at(idp, sub=None)))
    assert no_subject.subject is None and b"x-frontdoor-subject" not in dict(no_subject.headers)


def test_only_the_claims_routes_name_are_kept(idp: IdentityProvider) -> None:
    tokens = verifier(idp, claims=("roles", "tier"))
    token = verify(tokens, idp.token(**at(idp, roles=["admin"], email="a@example.com")))
    assert token.claims == {"roles": ["admin"]}


def test_several_providers_are_chosen_by_issuer() -> None:
    first, second = IdentityProvider.with_keys(), IdentityProvider.with_keys()
    first.issuer, second.issuer = "https://one.example.com/", "https://two.example.com/"
    tokens = verifier(first, second)
    assert verify(tokens, first.token(**at(first))).issuer == first.issuer
    assert verify(tokens, second.token(**at(second))).issuer == second.issuer
    # signed by the first provider's key but claiming the second as issuer: the second's keys decide
    forged = first.token(**at(first, iss=second.issuer))
    with pytest.raises(TokenInvalid, match="signature"):
        verify(tokens, forged)


def test_a_token_without_kid_uses_the_only_key_that_fits(idp: IdentityProvider) -> None:
    tokens = verifier(idp)
    es = jwt.encode(idp.claims(**at(idp)), idp.key("ec-1"), algorithm="ES256")
    assert verify(tokens, es).key.kid == "ec-1"
    idp2 = IdentityProvider(issuer=idp.issuer, keys=[*idp.keys])
    idp2.rotate("rsa-2")
    two_rsa = verifier(idp2)
    rs = jwt.encode(idp.claims(**at(idp)), idp.key("rsa-1"), algorithm="RS256")
    with pytest.raises(TokenInvalid, match="several"):
        verify(two_rsa, rs)


# --- the cache ---------------------------------------------------------------------------------------


def test_a_verified_token_is_cached_until_it_expires(idp: IdentityProvider) -> None:
    clock = Clock(NOW)
    tokens = verifier(idp, clock=clock)
    raw = idp.token(**at(idp)).encode()
    digest = tokens.digest(raw)
    assert tokens.cached(digest, NOW) is None
    first = tokens.verify(raw, digest, NOW)
    assert tokens.cached(digest, NOW + 100) is first
    assert tokens.cached(digest, NOW + 300 + 29) is first
    assert tokens.cached(digest, NOW + 300 + 30) is None
    assert len(tokens) == 0  # an expired entry is dropped when met


def test_the_cache_is_bounded(idp: IdentityProvider) -> None:
    tokens = verifier(idp)
    tokens.cache_size = 3
    raws = [idp.token(**at(idp, sub=f"user{i}")).encode() for i in range(5)]
    for raw in raws:
        tokens.verify(raw, tokens.digest(raw), NOW)
    assert len(tokens) == 3
    assert tokens.cached(tokens.digest(raws[0]), NOW) is None  # the oldest went first
    assert tokens.cached(tokens.digest(raws[4]), NOW) is not None


def test_a_cached_token_stops_counting_when_its_key_leaves_the_jwks() -> None:
    source = IdentityProvider.with_keys()
    tokens = verifier(source)
    keys = tokens.by_issuer[source.issuer].keyset
    raw = source.token(**at(source)).encode()
    digest = tokens.digest(raw)
    tokens.verify(raw, digest, NOW)
    source.rotate("rsa-2", drop="rsa-1")
    assert fetched(keys, unknown_key=True)
    assert tokens.cached(digest, NOW) is None
    with pytest.raises(KeyUnknown):
        tokens.verify(raw, digest, NOW)
