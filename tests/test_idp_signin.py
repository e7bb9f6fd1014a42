"""The local identity provider's sign-in (idp/signin.py), alone: what it refuses. Chromium signs in
through it with `frontdoor demo` in tests/test_readme_examples.py."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from frontdoor.idp.keys import signing_keys
from frontdoor.idp.signin import Desk

ISSUER = "http://127.0.0.1:9400/"
VERIFIER = "v" * 43
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REQUEST = {
    "response_type": "code",
    "client_id": "shop-web",
    "redirect_uri": "http://127.0.0.1:8080/_frontdoor/callback",
    "scope": "openid email",
    "state": "st",
    "nonce": "no",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
}


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(ISSUER, ("shop-api",), {"role": "admin"}, ("orders:read",), state=tmp_path)


def code_for(desk: Desk, **changes: str) -> str:
    status, location = desk.authorize(urlencode({**REQUEST, "username": "dana", **changes}).encode())
    assert status == 302
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st"] and query["iss"] == [ISSUER]
    return query["code"][0]


def exchange(desk: Desk, code: str, verifier: str = VERIFIER, **changes: str) -> tuple[int, dict[str, Any]]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REQUEST["redirect_uri"]}
    form.update(code_verifier=verifier, **changes)
    basic = "Basic " + base64.b64encode(b"shop-web:any-secret").decode()
    return desk.token(urlencode(form).encode(), basic)


def test_the_form_and_the_tokens(desk: Desk, tmp_path: Path) -> None:
    status, page = desk.form(urlencode(REQUEST))
    assert status == 200 and 'name="username"' in page and CHALLENGE in page
    status, answer = exchange(desk, code_for(desk))
    assert status == 200
    keys = signing_keys(tmp_path)["RS256"]
    id_token = jwt.decode(answer["id_token"], keys.private.public_key(), ["RS256"], audience="shop-web")
    assert (id_token["sub"], id_token["nonce"], id_token["email"], id_token["role"]) == (
        "dana",
        "no",
        "dana@example.test",
        "admin",
    )
    access = jwt.decode(answer["access_token"], keys.private.public_key(), ["RS256"], audience="shop-api")
    assert access["scope"] == "openid email orders:read"


def test_a_code_works_once(desk: Desk) -> None:
    code = code_for(desk)
    assert exchange(desk, code)[0] == 200
    assert exchange(desk, code) == (
        400,
        {"error": "invalid_grant", "error_description": "unknown, used or expired code"},
    )


def test_the_pkce_verifier_must_match(desk: Desk) -> None:
    status, answer = exchange(desk, code_for(desk), verifier="w" * 43)
    assert status == 400 and "PKCE" in answer["error_description"]


def test_another_redirect_uri_is_refused(desk: Desk) -> None:
    status, _ = exchange(desk, code_for(desk), redirect_uri="http://127.0.0.1:8080/elsewhere")
    assert status == 400


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uri": "https://evil.example/_frontdoor/callback"},  # a development provider only
        {"code_challenge": ""},
        {"code_challenge_method": "plain"},
        {"response_type": "token"},
    ],
)
def test_requests_it_refuses(desk: Desk, changes: dict[str, str]) -> None:
    assert desk.form(urlencode({**REQUEST, **changes}))[0] == 400
    assert desk.authorize(urlencode({**REQUEST, "username": "dana", **changes}).encode())[0] == 400


def test_logout_returns_only_to_loopback() -> None:
    assert Desk.logout(urlencode({"post_logout_redirect_uri": "http://127.0.0.1:8080/"})) == (
        302,
        "http://127.0.0.1:8080/",
    )
    assert Desk.logout(urlencode({"post_logout_redirect_uri": "https://evil.example/"}))[0] == 200
