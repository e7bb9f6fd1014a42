"""A real OpenID provider for the sign-in tests: npm's oidc-provider (tests/oidc/provider.mjs), started
by scripts/oidc-provider.sh on a free loopback port, and a Chromium driven by Playwright that signs in
through its development form."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .harness import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-extensions",
]
CLIENT_ID = "shop-web"
CLIENT_SECRET = "shop-web-secret-0123456789"
# another application registered at the same provider (tests/signin_cases.py: its codes are not ours)
OTHER_CLIENT_ID = "other-web"
OTHER_CLIENT_SECRET = "other-web-secret-0123456789"
COOKIE_KEY = "e2e-cookie-key-0123456789abcdef"


class OidcProvider:
    """oidc-provider on 127.0.0.1, with one confidential client whose redirect URIs are ``sites``'."""

    def __init__(
        self,
        sites: list[str],
        *,
        refresh: bool = False,
        ttl: dict[str, int] | None = None,
        other_sites: list[str] | None = None,
    ) -> None:
        """``refresh``: the client may use refresh tokens (issued when it asks for offline_access);
        ``ttl``: token lifetimes in seconds, by oidc-provider's names (AccessToken, IdToken...);
        ``other_sites``: a second client, OTHER_CLIENT_ID, may send browsers back to these sites."""
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        grants = ["authorization_code", "refresh_token"] if refresh else ["authorization_code"]
        clients: list[dict[str, Any]] = [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{site}/_frontdoor/callback" for site in sites],
                "post_logout_redirect_uris": [f"{site}/" for site in sites],
                "grant_types": grants,
            }
        ]
        if other_sites:
            clients.append(
                {
                    "client_id": OTHER_CLIENT_ID,
                    "client_secret": OTHER_CLIENT_SECRET,
                    "redirect_uris": [f"{site}/_frontdoor/callback" for site in other_sites],
                }
            )
        settings: dict[str, Any] = {"port": self.port, **({"ttl": ttl} if ttl else {}), "clients": clients}
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "oidc-provider.sh"), json.dumps(settings)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()  # blocks until it listens, or it exits
        if not line.startswith("ready "):
            assert self.process.stderr is not None
            self.process.wait(10)
            raise RuntimeError(f"oidc-provider did not start: {self.process.stderr.read().decode()[-2000:]}")

    def stop(self) -> None:
        stop_process(self.process)

    def provider_yaml(self, name: str = "corp", login: str = "") -> str:
        return (
            f'{{name: {name}, issuer: "{self.issuer}", audiences: [shop-api], algorithms: [RS256]'
            + (f", login: {login}" if login else "")
            + "}"
        )


def login_yaml(ttl: str = "1h", idle: str = "30m", scopes: str = "openid, email, profile") -> str:
    return (
        f"{{client_id: {CLIENT_ID}, client_secret: secret:web-secret, scopes: [{scopes}], "
        f"session: {{ttl: {ttl}, idle: {idle}}}, cookie_keys: [secret:cookie-key]}}"
    )


def login_secrets(root: Path, cookie_key: str = COOKIE_KEY) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "web-secret").write_text(CLIENT_SECRET)
    (root / "cookie-key").write_text(cookie_key)
    return {"web-secret": f"file:{root / 'web-secret'}", "cookie-key": f"file:{root / 'cookie-key'}"}


@contextmanager
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (its own cookie jar), from the system's chromium binary."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def sign_in_at_provider(page: Any, user: str) -> None:
    """The provider's development sign-in form, then its consent form (first sign-in only)."""
    page.wait_for_selector('input[name="login"]')
    page.fill('input[name="login"]', user)
    page.fill('input[name="password"]', "any password")
    page.click('button[type="submit"]')
    page.wait_for_load_state()
    if "/interaction/" in page.url:  # consent: the client asks for these scopes
        page.click('button[type="submit"]')
        page.wait_for_load_state()


def page_json(page: Any) -> Any:
    """The JSON a page shows (Chromium renders a JSON response as text)."""
    return json.loads(page.inner_text("body"))


def wait_until(predicate: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true")
        time.sleep(0.05)
