"""A provider's key set: JWKS parsing, discovery, and when keys are fetched (injected clock and fetcher)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from frontdoor.access.keys import (
    MAX_DOCUMENT_BYTES,
    MIN_REFRESH_S,
    REFRESH_S,
    KeyFetchError,
    KeySet,
    discovery_url,
    http_get_json,
    parse_jwks,
)
from frontdoor.contract.models import Provider

from .idp import IdentityProvider, new_ec, new_rsa, public_jwk

ALL = frozenset({"RS256", "PS256", "ES256", "ES384", "EdDSA"})


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def provider(idp: IdentityProvider, **fields: Any) -> Provider:
    spec: dict[str, Any] = {
        "name": "idp",
        "issuer": idp.issuer,
        "audiences": ["shop-api"],
        "algorithms": ["RS256", "ES256"],
        "jwks_uri": idp.jwks_uri,
    }
    spec.update(fields)
    return Provider.model_validate({k: v for k, v in spec.items() if v is not None})


def fetched(keys: KeySet, unknown_key: bool = False) -> bool:
    """Refresh and wait for it; False when no fetch was allowed."""
    future = keys.refresh(unknown_key)
    if future is None:
        return False
    future.result(5)
    return True


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider.with_keys()


# --- parsing -----------------------------------------------------------------------------------------


def test_jwks_keeps_only_keys_that_verify_an_allowed_algorithm() -> None:
    rsa_key, ec_key = new_rsa(), new_ec()
    small = public_jwk("small", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    document = {
        "keys": [
            public_jwk("rsa", rsa_key),
            public_jwk("ec", ec_key),
            public_jwk("rsa-ps-only", rsa_key, alg="PS256"),
            public_jwk("rsa-rs384-only", rsa_key, alg="RS384"),  # RS384 is not allowed
            {**public_jwk("enc", rsa_key), "use": "enc"},
            {**public_jwk("no-verify", rsa_key), "key_ops": ["encrypt"]},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**public_jwk("leaked", rsa_key), "d": "AQAB"},
            {"kty": "EC", "kid": "odd-curve", "crv": "secp256k1", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            small,
            "not a key",
            {**public_jwk("rsa", ec_key)},  # a repeated kid: the first one counts
        ]
    }
    keys = parse_jwks(document, ALL)
    assert set(keys) == {"rsa", "ec", "rsa-ps-only"}
    assert keys["rsa"].algorithms == {"RS256", "PS256"}
    assert keys["ec"].algorithms == {"ES256"}
    assert keys["rsa-ps-only"].algorithms == {"PS256"}
    only_ec = parse_jwks(document, frozenset({"ES256"}))
    assert only_ec.keys() == {"ec", "rsa"}  # under kid "rsa", the first usable key: the EC one
    assert only_ec["rsa"].algorithms == {"ES256"}


@pytest.mark.parametrize("document", [{}, {"keys": "x"}, [], "keys"])
def test_a_document_that_is_not_a_jwks_is_an_error(document: object) -> None:
    with pytest.raises(KeyFetchError):
        parse_jwks(document, ALL)


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("https://login.example.com/", "https://login.example.com/.well-known/openid-configuration"),
        ("https://login.example.com", "https://login.example.com/.well-known/openid-configuration"),
        (
            "https://sso.example.com/realms/shop/",
            "https://sso.example.com/realms/shop/.well-known/openid-configuration",
        ),
    ],
)
def test_discovery_url_drops_the_issuers_trailing_slash(issuer: str, url: str) -> None:
    assert discovery_url(issuer) == url


# --- fetching ----------------------------------------------------------------------------------------


def test_discovery_finds_the_keys_when_no_jwks_uri_is_given(idp: IdentityProvider) -> None:
    idp.fetches.clear()
    keys = KeySet(provider(idp, jwks_uri=None), idp.get_json, Clock())
    assert fetched(keys)
    assert set(keys.keys) == {"rsa-1", "ec-1"}
    assert idp.fetches == {"/.well-known/openid-configuration": 1, "/keys": 1}
    # the discovered location is remembered
    keys._due = 0
    keys.refresh_if_due()
    assert keys._pending is not None
    keys._pending.result(5)
    assert idp.fetches == {"/.well-known/openid-configuration": 1, "/keys": 2}


def test_discovery_naming_another_issuer_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    other = IdentityProvider.with_keys()
    other.issuer = "http://127.0.0.1:2/"

    def get_json(url: str, timeout: float) -> object:
        document = other.get_json(url, timeout)
        if url.endswith("openid-configuration"):
            return {**document, "issuer": "http://127.0.0.1:3/"}  # type: ignore[dict-item]
        return document

    keys = KeySet(provider(other, jwks_uri=None), get_json, Clock())
    with caplog.at_level(logging.WARNING, "frontdoor.access"):
        assert fetched(keys)
    assert keys.keys == {}
    assert "names another issuer" in caplog.text
    assert other.fetches["/keys"] == 0


def test_unknown_keys_refresh_at_most_once_per_interval(idp: IdentityProvider) -> None:
    clock = Clock()
    keys = KeySet(provider(idp), idp.get_json, clock)
    assert fetched(keys)  # the start
    assert fetched(keys, unknown_key=True)  # the first unknown key: the start does not count
    clock.now += MIN_REFRESH_S - 1
    assert not fetched(keys, unknown_key=True)
    assert keys.fetches == 2
    clock.now += 1
    assert fetched(keys, unknown_key=True)
    assert keys.fetches == 3


def test_concurrent_unknown_keys_share_one_fetch(idp: IdentityProvider) -> None:
    release = threading.Event()
    calls = []

    def slow(url: str, timeout: float) -> object:
        calls.append(url)
        release.wait(5)
        return idp.jwks()

    keys = KeySet(provider(idp), slow, Clock())
    futures = [keys.refresh(unknown_key=True) for _ in range(50)]
    assert all(f is futures[0] for f in futures) and futures[0] is not None
    release.set()
    futures[0].result(5)
    assert len(calls) == 1 and keys.fetches == 1
    assert set(keys.keys) == {"rsa-1", "ec-1"}
    assert keys.refresh(unknown_key=True) is None  # and the next unknown key within 30 s fetches nothing
    assert len(calls) == 1


def test_an_outage_keeps_the_keys_and_is_logged_once(
    idp: IdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    provider_down = IdentityProvider(issuer=idp.issuer, keys=list(idp.keys))
    keys = KeySet(provider(provider_down), provider_down.get_json, clock)
    assert fetched(keys)
    held = keys.keys
    provider_down.status = 503
    with caplog.at_level(logging.INFO, "frontdoor.access"):
        for _ in range(3):
            clock.now += MIN_REFRESH_S
            assert fetched(keys, unknown_key=True)
        assert keys.keys is held
        provider_down.status = 200
        clock.now += MIN_REFRESH_S
        assert fetched(keys, unknown_key=True)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "503" in warnings[0].getMessage()
    assert "keeping the 2 held" in warnings[0].getMessage()
    assert any(r.levelno == logging.INFO and "2 signing key(s)" in r.getMessage() for r in caplog.records)


def test_routine_refresh_is_due_every_interval_and_sooner_after_a_failure(idp: IdentityProvider) -> None:
    clock = Clock()
    source = IdentityProvider(issuer=idp.issuer, keys=list(idp.keys))
    keys = KeySet(provider(source), source.get_json, clock)
    assert fetched(keys)
    keys.refresh_if_due()
    assert keys.fetches == 1
    clock.now += REFRESH_S
    keys.refresh_if_due()
    assert keys.fetches == 2
    assert keys._pending is not None
    keys._pending.result(5)
    source.status = 500
    clock.now += REFRESH_S
    keys.refresh_if_due()
    keys._pending.result(5)
    assert keys.fetches == 3
    clock.now += MIN_REFRESH_S - 1
    keys.refresh_if_due()
    assert keys.fetches == 3
    clock.now += 1
    keys.refresh_if_due()
    assert keys.fetches == 4


def test_an_unchanged_key_keeps_its_object_across_refreshes(idp: IdentityProvider) -> None:
    clock = Clock()
    source = IdentityProvider(issuer=idp.issuer, keys=list(idp.keys))
    keys = KeySet(provider(source), source.get_json, clock)
    assert fetched(keys)
    before = keys.keys["rsa-1"]
    source.rotate("rsa-2")
    assert fetched(keys, unknown_key=True)
    assert keys.keys["rsa-1"] is before and "rsa-2" in keys.keys


# --- the real fetcher, against a real HTTP server ---------------------------------------------------


@pytest.fixture
def served() -> Iterator[IdentityProvider]:
    source = IdentityProvider.with_keys().serve()
    yield source
    source.down()


def test_discovery_over_http_with_the_real_fetcher(served: IdentityProvider) -> None:
    keys = KeySet(provider(served, jwks_uri=None), clock=Clock())
    assert served.issuer.endswith("/")
    assert fetched(keys)
    assert set(keys.keys) == {"rsa-1", "ec-1"}
    assert served.fetches == {"/.well-known/openid-configuration": 1, "/keys": 1}


@pytest.mark.parametrize(
    ("status", "says"),
    [(503, "answered 503"), (404, "answered 404")],
)
def test_http_errors_are_named_by_url_and_status(served: IdentityProvider, status: int, says: str) -> None:
    served.status = status
    with pytest.raises(KeyFetchError, match=says) as error:
        http_get_json(served.jwks_uri, 2)
    assert served.jwks_uri in str(error.value)


def test_refused_connections_redirects_and_non_json_are_errors(served: IdentityProvider) -> None:
    import http.server

    class Odd(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("location", served.jwks_uri)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = b"<html>not json</html>" if self.path == "/html" else b"[" * (MAX_DOCUMENT_BYTES + 10)
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(KeyFetchError, match="answered 302"):
            http_get_json(f"{base}/redirect", 2)  # never followed: keys come from exactly this URL
        assert served.jwks_fetches() == 0
        with pytest.raises(KeyFetchError, match="did not send JSON"):
            http_get_json(f"{base}/html", 2)
        with pytest.raises(KeyFetchError, match="more than"):
            http_get_json(f"{base}/big", 2)
    finally:
        server.shutdown()
        server.server_close()
    served.down()
    with pytest.raises(KeyFetchError, match="could not be fetched"):
        http_get_json(served.jwks_uri, 2)
