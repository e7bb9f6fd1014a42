"""The demo's web page behind browser sign-in (the shop example's ``/account`` route): a person who
opens it sees who the gateway says signed in and a link to sign out; an API client, or anything that
does not ask for HTML first, still gets the demo upstream's JSON echo (upstream.py).

The page shows only what the gateway vouches for (the ``X-Frontdoor-*`` fields), escaped: a subject
or an email is the provider's text, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Final

PAGE_PATH: Final = "/account"
LOGOUT_PATH: Final = "/_frontdoor/logout"  # the gateway's sign-out (access/oidcflow.py's LOGOUT_PATH)


def wants_page(path: str, accept: str) -> bool:
    """A browser navigating to the page: its Accept names text/html first (a browser's does; curl's
    ``*/*`` and an API client's ``application/json`` do not)."""
    if path != PAGE_PATH and not path.startswith(PAGE_PATH + "/"):
        return False
    first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first == "text/html"


def account_page(seen: Mapping[str, str]) -> bytes:
    """The page for the headers the upstream received (lower-case names)."""
    subject = seen.get("x-frontdoor-subject", "")
    rows = [
        ("Signed in as", subject),
        ("Email", seen.get("x-frontdoor-email", "")),
        ("Identity provider", seen.get("x-frontdoor-issuer", "")),
    ]
    table = "\n".join(
        f"    <tr><th>{label}</th><td>{escape(value)}</td></tr>" for label, value in rows if value
    )
    heading = f"Hello, {escape(subject)}" if subject else "Nobody is signed in"
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <title>Your account</title>\n</head>\n'
        f"<body>\n  <h1>{heading}</h1>\n"
        f'  <table id="who">\n{table}\n  </table>\n'
        "  <p>This page has no sign-in code: the gateway signed you in and told the app who you are.</p>\n"
        f'  <p><a id="sign-out" href="{LOGOUT_PATH}">Sign out</a></p>\n'
        "</body>\n</html>\n"
    ).encode()
