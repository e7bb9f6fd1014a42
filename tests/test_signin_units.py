"""The pieces of browser sign-in, each alone: sealing, cookies, the return URL, PKCE and the flow's
parameters. The flow against a real provider is tests/test_signin_e2e.py."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdoor.access.cookies import (
    CHUNK,
    MAX_CHUNKS,
    CookieTooLarge,
    clear_cookies,
    parse_cookies,
    read_cookie,
    set_cookies,
    without_cookies,
)
from frontdoor.access.oidcflow import Flow, authorization_url, logout_url, new_flow, pkce_challenge
from frontdoor.access.returnurl import safe_return
from frontdoor.access.sealing import Sealer, SealingError
from frontdoor.access.session import Session

KEY_A = b"a" * 32
KEY_B = b"b-key-of-enough-length"


# --- sealing ------------------------------------------------------------------------------------------


def test_sealed_values_open_only_with_their_key_and_purpose() -> None:
    sealer = Sealer([KEY_A], "session p")
    sealed = sealer.seal(b"alice")
    assert b"alice" not in base64.urlsafe_b64decode(sealed + "==")  # encrypted, not just signed
    assert sealer.open(sealed) == b"alice"
    assert sealer.seal(b"alice") != sealed  # a fresh nonce every time
    assert Sealer([KEY_B], "session p").open(sealed) is None  # a foreign key
    assert Sealer([KEY_A], "signin p").open(sealed) is None  # another purpose: a flow is no session
    assert Sealer([KEY_A], "session q").open(sealed) is None  # another provider's


def test_rotation_first_key_seals_every_key_opens() -> None:
    old = Sealer([KEY_A], "session p").seal(b"before")
    rotated = Sealer([KEY_B, KEY_A], "session p")
    assert rotated.open(old) == b"before"
    new = rotated.seal(b"after")
    assert Sealer([KEY_B], "session p").open(new) == b"after"
    assert Sealer([KEY_A], "session p").open(new) is None


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255))
def test_any_tampered_byte_is_refused(position: int, flip: int) -> None:
    sealer = Sealer([KEY_A], "session p")
    raw = bytearray(base64.urlsafe_b64decode(sealer.seal(b"x" * 64) + "=="))
    position %= len(raw)
    raw[position] ^= flip or 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert sealer.open(tampered) is None


@pytest.mark.parametrize("token", ["", "not base64 !", "AAAA", "x" * 10, "%00"])
def test_garbage_is_refused(token: str) -> None:
    assert Sealer([KEY_A], "session p").open(token) is None


def test_short_or_missing_keys_are_refused() -> None:
    with pytest.raises(SealingError, match="shorter"):
        Sealer([b"short"], "session p")
    with pytest.raises(SealingError):
        Sealer([], "session p")


# --- cookies ------------------------------------------------------------------------------------------


def test_cookie_attributes() -> None:
    (plain,) = set_cookies("frontdoor-session-p", "v", secure=False, max_age=60)[:1]
    assert plain == b"frontdoor-session-p=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
    tls = set_cookies("frontdoor-session-p", "v", secure=True, max_age=60)[0]
    assert tls.endswith(b"; Secure; Max-Age=60") or b"; Secure" in tls


def test_large_values_are_split_and_joined_and_leftovers_cleared() -> None:
    value = "x" * (CHUNK * 2 + 10)
    lines = set_cookies("c", value, secure=False, max_age=60)
    assert len(lines) == MAX_CHUNKS
    assert all(len(line) < 4096 for line in lines)
    sent = [line.split(b";")[0] for line in lines if b"Max-Age=0" not in line]
    assert [s.split(b"=")[0] for s in sent] == [b"c", b"c.1", b"c.2"]
    assert b"c.3=; Path=/" in lines[3] and b"Max-Age=0" in lines[3]  # a longer earlier value's tail
    assert read_cookie(parse_cookies([b"; ".join(sent)]), "c") == value
    with pytest.raises(CookieTooLarge):
        set_cookies("c", "x" * (CHUNK * MAX_CHUNKS + 1), secure=False, max_age=60)


def test_clearing_and_reading() -> None:
    assert all(b"Max-Age=0" in line for line in clear_cookies("c", secure=True))
    cookies = parse_cookies([b"a=1; c=2", b"c=3; b="])
    assert cookies == {"a": "1", "c": "2", "b": ""}
    assert read_cookie(cookies, "missing") is None


def test_the_gateways_cookies_never_go_upstream() -> None:
    field = b"theme=dark; frontdoor-session-corp=SEALED; frontdoor-session-corp.1=MORE; lang=en"
    assert without_cookies(field, b"frontdoor-") == b"theme=dark; lang=en"
    assert without_cookies(b"frontdoor-signin-corp=x", b"frontdoor-") is None


# --- the return URL -----------------------------------------------------------------------------------

OPEN_REDIRECTS = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F%2Fevil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",  # encoded twice
    "javascript:alert(1)",
    "/\tevil",
    "/ /evil",
    "/\r\nLocation: https://evil",
    "evil.example/path",
    "",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_open_redirects_return_home(target: str) -> None:
    assert safe_return(target) == "/"


@pytest.mark.parametrize("target", ["/", "/orders/42", "/a?b=c&d=%2F", "/caf%C3%A9", "/x#frag"])
def test_same_site_paths_are_kept(target: str) -> None:
    assert safe_return(target) == target


@given(st.text(max_size=60))
def test_whatever_comes_in_the_result_stays_on_this_site(target: str) -> None:
    result = safe_return(target)
    assert result.startswith("/")
    assert not result.startswith(("//", "/\\"))
    decoded = result
    for _ in range(5):  # however often a browser or an app decodes it
        parts = urlsplit(decoded)
        assert not parts.scheme and not parts.netloc
        assert "\\" not in decoded
        assert not decoded.startswith(("//", "/\\"))
        decoded = unquote(decoded)


@given(st.sampled_from(OPEN_REDIRECTS[:9]), st.text(alphabet="/%2FfC5c\\.", max_size=8))
def test_encoded_variants_are_refused(base: str, tail: str) -> None:
    assert safe_return(quote(base, safe="/%\\:") + tail) in ("/", quote(base, safe="/%\\:") + tail)
    assert not safe_return(base + tail).startswith(("//", "/\\"))


# --- PKCE and the flow's parameters ---------------------------------------------------------------------


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_each_flow_is_fresh_and_the_url_carries_it() -> None:
    flow = new_flow("corp", "/orders", "https://shop.test/_frontdoor/callback", 1.0)
    other = new_flow("corp", "/orders", "https://shop.test/_frontdoor/callback", 1.0)
    assert len({flow.state, flow.nonce, flow.verifier, other.state, other.nonce, other.verifier}) == 6
    assert len(flow.verifier) >= 43
    url = authorization_url("https://idp.test/auth?tenant=1", "shop-web", ("openid", "email"), flow)
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "tenant": ["1"],
        "response_type": ["code"],
        "client_id": ["shop-web"],
        "redirect_uri": ["https://shop.test/_frontdoor/callback"],
        "scope": ["openid email"],
        "state": [flow.state],
        "nonce": [flow.nonce],
        "code_challenge": [pkce_challenge(flow.verifier)],
        "code_challenge_method": ["S256"],
    }
    assert "verifier" not in url and flow.verifier not in url  # only its hash leaves the gateway
    assert Flow.from_json(flow.to_json()) == flow
    assert Flow.from_json(b"[1, 2]") is None


def test_logout_url() -> None:
    query = parse_qs(urlsplit(logout_url("https://idp.test/end", "shop-web", "https://shop.test/")).query)
    assert query == {"client_id": ["shop-web"], "post_logout_redirect_uri": ["https://shop.test/"]}


def test_session_round_trip_and_timeouts() -> None:
    session = Session(
        "corp", "alice", "https://idp.test/", frozenset({"a"}), {"role": "x"}, "a@x", 100.0, 100.0
    )
    assert Session.from_json(session.to_json()) == session
    assert Session.from_json(b"{}") is None
    assert session.current(150.0, ttl=100, idle=60)
    assert not session.current(161.0, ttl=100, idle=60)  # idle
    assert not session.used(190.0).current(201.0, ttl=100, idle=60)  # absolute
    assert session.used(190.0).current(199.0, ttl=100, idle=60)
    names = [n for n, _ in session.headers()]
    assert names == [
        b"x-frontdoor-issuer",
        b"x-frontdoor-subject",
        b"x-frontdoor-scopes",
        b"x-frontdoor-email",
    ]


def test_offline_access_asks_for_consent() -> None:
    """OIDC Core 11: without prompt=consent a provider may drop offline_access (oidc-provider does),
    and no refresh token comes back."""
    flow = new_flow("corp", "/", "https://shop.test/_frontdoor/callback", 1.0)
    url = authorization_url("https://idp.test/auth", "shop-web", ("openid", "offline_access"), flow)
    assert parse_qs(urlsplit(url).query)["prompt"] == ["consent"]
    plain = authorization_url("https://idp.test/auth", "shop-web", ("openid",), flow)
    assert "prompt" not in parse_qs(urlsplit(plain).query)
