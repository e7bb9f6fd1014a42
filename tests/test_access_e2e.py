"""Tokens and API keys end to end: a real `frontdoor serve`, a real identity provider serving its JWKS
over HTTP, real upstreams. Every attack token is a 401; what reaches the upstream is only what the
gateway vouches for; keys rotate and providers fail without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .harness import ContractSpec, Gateway, Upstreams, raw_exchange, request, statuses
from .idp import API_KEYS, ATTACKS, IdentityProvider, access_contract, attack_tokens


def start(idp: IdentityProvider, upstreams: Upstreams, root: Path) -> Gateway:
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], **access_contract(idp, root))
    return Gateway(spec.write(root / "contract"), spec, root / "access.log")


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    source = IdentityProvider.with_keys().serve()
    yield source
    source.down()


@pytest.fixture(scope="module")
def gateway(
    idp: IdentityProvider, upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    running = start(idp, upstreams, tmp_path_factory.mktemp("access-e2e"))
    yield running
    running.stop()


def get(
    gateway: Gateway, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, response_headers, body = request(gateway.spec.port, method, path, headers)
    return status, response_headers, json.loads(body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def attacks(idp: IdentityProvider) -> dict[str, str]:
    return attack_tokens(idp)


@pytest.mark.parametrize("name", ATTACKS)
def test_every_attack_token_is_a_401(gateway: Gateway, attacks: dict[str, str], name: str) -> None:
    token = attacks[name]
    status, headers, body = get(gateway, "/me", bearer(token))
    assert status == 401, body
    assert headers["www-authenticate"] == 'Bearer realm="edge", error="invalid_token"'
    assert token not in json.dumps(body) and body["owner"] == "shop"


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="edge"'),
        ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, 'Bearer realm="edge"'),
        ({"Authorization": "Bearer"}, 'Bearer realm="edge", error="invalid_token"'),
        ({"X-Api-Key": API_KEYS["billing"]}, 'Bearer realm="edge"'),
    ],
)
def test_no_bearer_token_is_a_401(gateway: Gateway, headers: dict[str, str], challenge: str) -> None:
    status, response_headers, body = get(gateway, "/me", headers)
    assert status == 401 and response_headers["www-authenticate"] == challenge
    assert body["reason"]


def test_two_authorization_headers_are_a_401(gateway: Gateway, idp: IdentityProvider) -> None:
    token = idp.token()
    raw = raw_exchange(
        gateway.spec.port,
        f"GET /me HTTP/1.1\r\nHost: shop.test\r\nAuthorization: Bearer {token}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert statuses(raw) == [401] and b'error="invalid_token"' in raw


def test_a_valid_token_reaches_the_upstream_with_only_the_gateways_identity(
    gateway: Gateway, idp: IdentityProvider
) -> None:
    forged = {
        "X-Frontdoor-Subject": "admin",
        "X-Frontdoor-Scopes": "orders:write",
        "X-Frontdoor-Client": "billing",
        "X-Frontdoor-Issuer": "https://evil.example.com/",
    }
    status, _, seen = get(gateway, "/orders/7", {**bearer(idp.token(scope="orders:read profile")), **forged})
    assert status == 200
    assert sorted(seen["frontdoor_headers"]) == sorted(
        [
            ["x-frontdoor-subject", "alice"],
            ["x-frontdoor-scopes", "orders:read profile"],
            ["x-frontdoor-issuer", idp.issuer],
        ]
    )
    # on a public route nothing is vouched for, and nothing forged gets through either
    status, _, seen = get(gateway, "/public", {**bearer(idp.token()), **forged})
    assert status == 200 and seen["frontdoor_headers"] == []


def test_es256_tokens_work_too(gateway: Gateway, idp: IdentityProvider) -> None:
    status, _, _ = get(gateway, "/me", bearer(idp.token(kid="ec-1", alg="ES256")))
    assert status == 200


def test_insufficient_scope_is_a_403(gateway: Gateway, idp: IdentityProvider) -> None:
    status, headers, body = get(gateway, "/orders", bearer(idp.token(scope="orders:read")), method="POST")
    assert status == 403
    assert headers["www-authenticate"] == (
        'Bearer realm="edge", error="insufficient_scope", scope="orders:read orders:write"'
    )
    assert (
        body["reason"] == "the token does not carry the scopes orders:read orders:write this route requires"
    )
    status, _, _ = get(gateway, "/orders", bearer(idp.token(scope="orders:read orders:write")), method="POST")
    assert status == 200


def test_claims_match_list_membership(gateway: Gateway, idp: IdentityProvider) -> None:
    assert get(gateway, "/admin", bearer(idp.token(roles=["user", "admin"])))[0] == 200
    assert get(gateway, "/admin", bearer(idp.token(roles=["user"])))[0] == 403


def test_clock_skew(gateway: Gateway, idp: IdentityProvider) -> None:
    now = int(time.time())
    assert get(gateway, "/me", bearer(idp.token(exp=now - 10, iat=now - 300)))[0] == 200
    assert get(gateway, "/me", bearer(idp.token(nbf=now + 10)))[0] == 200
    assert get(gateway, "/me", bearer(idp.token(exp=now - 60, iat=now - 300)))[0] == 401
    assert get(gateway, "/me", bearer(idp.token(nbf=now + 60)))[0] == 401


def test_api_keys(gateway: Gateway, idp: IdentityProvider) -> None:
    status, _, seen = get(
        gateway, "/batch/run", {"X-Api-Key": API_KEYS["billing"], "X-Frontdoor-Client": "partner"}
    )
    assert status == 200 and seen["frontdoor_headers"] == [["x-frontdoor-client", "billing"]]
    assert get(gateway, "/partners", {"X-Api-Key": API_KEYS["partner"]})[0] == 200
    status, headers, _ = get(gateway, "/batch", {"X-Api-Key": API_KEYS["partner"]})
    assert status == 403 and "www-authenticate" not in headers
    status, headers, _ = get(gateway, "/batch", {"X-Api-Key": "a-guessed-key"})
    assert status == 401 and headers["www-authenticate"] == 'ApiKey realm="edge", header="X-Api-Key"'
    assert get(gateway, "/batch")[0] == 401
    status, _, seen = get(gateway, "/mixed", {"X-Api-Key": API_KEYS["billing"], **bearer(idp.token())})
    assert status == 200 and sorted(n for n, _ in seen["frontdoor_headers"]) == [
        "x-frontdoor-client",
        "x-frontdoor-issuer",
        "x-frontdoor-scopes",
        "x-frontdoor-subject",
    ]


def test_no_token_or_key_is_ever_logged(
    gateway: Gateway, idp: IdentityProvider, attacks: dict[str, str]
) -> None:
    token = idp.token(sub="logged-nowhere")
    get(gateway, "/me", bearer(token))
    get(gateway, "/batch", {"X-Api-Key": API_KEYS["billing"]})
    time.sleep(0.4)  # the access log is flushed every 250 ms
    log = gateway.log.read_text()
    denied = [line["denied_by"] for line in gateway.access_log() if line["status"] in (401, 403)]
    assert "access: authenticated (invalid token)" in denied and "access: authenticated (no token)" in denied
    for secret in [token, *attacks.values(), *API_KEYS.values()]:
        assert secret not in log


# --- keys that change, providers that fail -------------------------------------------------------------


def test_rotation_is_picked_up_with_one_fetch_for_many_concurrent_requests(
    upstreams: Upstreams, tmp_path: Path
) -> None:
    source = IdentityProvider.with_keys().serve()
    running = start(source, upstreams, tmp_path)
    try:
        assert get(running, "/me", bearer(source.token()))[0] == 200
        before = source.jwks_fetches()
        source.rotate("rsa-2")
        source.delay_s = 0.5  # the JWKS answers slowly: every request below arrives while it is fetched
        tokens = [source.token(kid="rsa-2", sub=f"user{i}") for i in range(20)]
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda t: get(running, "/me", bearer(t)), tokens))
        assert [status for status, _, _ in results] == [200] * 20
        assert sorted(seen["frontdoor_headers"][1][1] for _, _, seen in results) == sorted(
            f"user{i}" for i in range(20)
        )
        assert source.jwks_fetches() == before + 1
        # another new key within 30 s: refused at once, without asking the provider again
        source.delay_s = 0
        source.rotate("rsa-3")
        assert get(running, "/me", bearer(source.token(kid="rsa-3")))[0] == 401
        assert source.jwks_fetches() == before + 1
    finally:
        running.stop()
        source.down()


def test_a_provider_down_at_start_and_during_the_day(upstreams: Upstreams, tmp_path: Path) -> None:
    source = IdentityProvider.with_keys().serve()
    source.down()  # down before the gateway starts: it starts anyway
    running = start(source, upstreams, tmp_path)
    try:
        assert get(running, "/public")[0] == 200
        source.serve(source.port)  # back: the first token's unknown key fetches the keys
        assert get(running, "/me", bearer(source.token()))[0] == 200
        source.down()
        # keys held keep working for tokens never seen before; an unknown key is a prompt 401
        assert get(running, "/me", bearer(source.token(sub="bob")))[0] == 200
        assert get(running, "/me", bearer(source.token(kid="ec-1", alg="ES256", sub="carol")))[0] == 200
        source.rotate("rsa-2")
        # (a hang would fail here on the client's own timeout)
        status, headers, _ = request(
            running.spec.port, "GET", "/me", bearer(source.token(kid="rsa-2")), timeout=8
        )
        assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    finally:
        running.stop()
    output = running.output()
    warnings = [line for line in output.splitlines() if "cannot fetch its signing keys" in line]
    assert len(warnings) == 1, output
    assert "Traceback" not in output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unreadable_api_key_hash_stops_serve_naming_the_reference(
    idp: IdentityProvider, tmp_path: Path, workers: str
) -> None:
    fields = access_contract(idp, tmp_path)
    fields["secrets"]["billing-key"] = "env:FRONTDOOR_TEST_BILLING_HASH"
    spec = ContractSpec(shop=[(9, 1)], **fields)
    contract = spec.write(tmp_path / "contract")
    env = {k: v for k, v in os.environ.items() if k != "FRONTDOOR_TEST_BILLING_HASH"}
    env["COLUMNS"] = "500"  # one line per message
    done = subprocess.run(
        [sys.executable, "-m", "frontdoor", "serve", str(contract), "--env", "dev", "--workers", workers],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert "API client billing" in done.stderr and "secret:billing-key" in done.stderr
    assert "FRONTDOOR_TEST_BILLING_HASH" in done.stderr
    assert done.stderr.count("API client billing") == 1  # said once, not by every worker
