"""The demo upstream's page behind sign-in (demo/accountpage.py), on a real socket: a browser opening
/account gets HTML naming who the gateway said signed in, with a sign-out link; an API client, curl and
every other path keep the JSON echo. Chromium signs in and out through it in
tests/test_readme_examples.py (the demo)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .harness import Upstreams, request

CHROME_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
WHO = {
    "X-Frontdoor-Subject": "dana",
    "X-Frontdoor-Email": "dana@example.test",
    "X-Frontdoor-Issuer": "http://127.0.0.1:8082/",
}


@pytest.fixture(scope="module")
def account() -> Iterator[int]:
    pool = Upstreams()
    yield pool.start("account")
    pool.close()


def test_a_browser_gets_the_page_with_who_and_a_sign_out_link(account: int) -> None:
    status, headers, body = request(account, "GET", "/account", {"Accept": CHROME_ACCEPT, **WHO})
    page = body.decode()
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Hello, dana</h1>" in page
    assert "<td>dana@example.test</td>" in page and "<td>http://127.0.0.1:8082/</td>" in page
    assert '<a id="sign-out" href="/_frontdoor/logout">' in page


def test_what_the_provider_says_is_shown_as_text_never_markup(account: int) -> None:
    headers = {"Accept": "text/html", "X-Frontdoor-Subject": "<script>alert(1)</script>"}
    _, _, body = request(account, "GET", "/account/settings", headers)
    assert "<script>" not in body.decode() and "&lt;script&gt;alert(1)&lt;/script&gt;" in body.decode()


@pytest.mark.parametrize(
    "path, accept",
    [
        ("/account", "application/json"),  # an API client
        ("/account", "*/*"),  # curl
        ("/account", ""),
        ("/accounts", CHROME_ACCEPT),  # another route: the echo the tests read
        ("/app", CHROME_ACCEPT),
    ],
)
def test_everything_else_keeps_the_json_echo(account: int, path: str, accept: str) -> None:
    status, headers, body = request(account, "GET", path, {"Accept": accept, **WHO} if accept else WHO)
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["headers"]["x-frontdoor-subject"] == "dana"
