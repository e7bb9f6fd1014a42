"""The local identity provider: keys on disk, discovery and JWKS on a real socket, `frontdoor token`
verified against what the issuer serves, and the demo's flow (token -> gateway -> upstream)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from frontdoor.cli import main
from frontdoor.demo.run import local_issuers
from frontdoor.idp.keys import signing_keys, state_dir
from frontdoor.idp.tokens import DEFAULT_ISSUER, mint, parse_claims
from frontdoor.plan import load_plan

from .authz_support import AccessContract, process_env, start_idp, start_serve
from .conftest import SHOP
from .harness import Upstreams, free_port, request


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    state = tmp_path_factory.mktemp("idp")
    upstreams = Upstreams()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    start_idp(upstreams, url, port, state)
    yield url, state
    upstreams.close()


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def cli_token(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontdoor", "token", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FRONTDOOR_STATE_DIR": str(state)},
        timeout=30,
        check=False,
    )


def verify(token: str, issuer: str, audience: str = "shop-api") -> dict[str, object]:
    """As a relying party would: keys from the issuer's discovery document, never from the token."""
    discovery = get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    assert discovery["issuer"] == issuer
    key = jwt.PyJWKClient(str(discovery["jwks_uri"])).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256", "ES256"], audience=audience, issuer=issuer)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_frontdoor_token_verifies_against_the_issuers_jwks(issuer: tuple[str, Path], algorithm: str) -> None:
    url, state = issuer
    done = cli_token(
        state,
        "--sub",
        "alice",
        "--scope",
        "orders:read orders:write",
        "--claim",
        "role=admin",
        "--claim",
        'groups=["ops","dev"]',
        "--ttl",
        "15m",
        "--alg",
        algorithm,
        "--issuer",
        url,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert "\n" not in token  # only the token, for $(frontdoor token ...)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    claims = verify(token, url)
    assert claims["sub"] == "alice" and claims["scope"] == "orders:read orders:write"
    assert claims["role"] == "admin" and claims["groups"] == ["ops", "dev"]
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 900


def test_a_token_from_other_keys_does_not_verify(issuer: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = issuer
    forged = mint("mallory", issuer=url, state=tmp_path)  # same issuer name, a different key
    with pytest.raises(jwt.PyJWTError):
        verify(forged, url)


def test_keys_are_private_and_kept(issuer: tuple[str, Path]) -> None:
    _, state = issuer
    first = signing_keys(state)
    for name in ("rs256.pem", "es256.pem"):
        assert stat.S_IMODE((state / "idp" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "idp").stat().st_mode) == 0o700
    assert {k.kid for k in signing_keys(state).values()} == {k.kid for k in first.values()}
    jwks = get_json(issuer[0] + "keys")
    keys = jwks["keys"]
    assert isinstance(keys, list)
    assert {k["kid"] for k in keys} == {k.kid for k in first.values()}
    assert all("d" not in k for k in keys)  # public halves only


def test_the_state_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FRONTDOOR_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_dir() == tmp_path / "frontdoor"
    monkeypatch.setenv("FRONTDOOR_STATE_DIR", str(tmp_path / "x"))
    assert state_dir() == tmp_path / "x"


def test_the_issuer_answers_only_what_it_serves(issuer: tuple[str, Path]) -> None:
    url, _ = issuer
    port = int(url.rsplit(":", 1)[1].strip("/"))
    assert request(port, "GET", "//.well-known/openid-configuration")[0] == 200  # "{issuer}/.well-known"
    assert request(port, "GET", "/token")[0] == 404
    status, headers, _ = request(port, "POST", "/keys", body=b"")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_claims_are_parsed_and_bad_ones_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_claims(["role=admin", "n=3", "tags=[1,2]", "empty="]) == {
        "role": "admin",
        "n": 3,
        "tags": [1, 2],
        "empty": "",
    }
    assert main(["token", "--sub", "a", "--claim", "role"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert main(["token", "--sub", "a", "--ttl", "soon"]) == 2


def test_the_example_dev_edge_trusts_the_local_issuer() -> None:
    plan = load_plan(SHOP, "dev")
    assert local_issuers(plan) == [(DEFAULT_ISSUER, "127.0.0.1", 9400)]
    identity = plan.edge.spec.identity
    assert identity is not None
    assert str(identity.providers[0].jwks_uri) == DEFAULT_ISSUER + "keys"  # what the issuer serves
    assert local_issuers(load_plan(SHOP, "prod")) == []


def test_demo_flow_401_403_200(tmp_path: Path) -> None:
    """What the demo prints, run: no token, a token without the scope, a token with it."""
    state = tmp_path / "state"
    upstreams = Upstreams()
    try:
        contract = AccessContract(idp_port=free_port(), upstream_port=upstreams.start("shop"))
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        gateway = start_serve(
            contract.write(tmp_path / "c"), process_env(state), tmp_path / "log", contract.admin_port
        )
        try:
            host = {"Host": "shop.test"}
            assert request(contract.port, "GET", "/orders/7", host)[0] == 401
            tokens = {}
            for scope in ("catalog:write", "orders:read"):
                done = cli_token(state, "--sub", "alice", "--scope", scope, "--issuer", contract.issuer)
                assert done.returncode == 0, done.stderr
                tokens[scope] = done.stdout.strip()
            denied = request(
                contract.port,
                "GET",
                "/orders/7",
                {**host, "Authorization": f"Bearer {tokens['catalog:write']}"},
            )
            assert denied[0] == 403
            status, _, body = request(
                contract.port,
                "GET",
                "/orders/7",
                {**host, "Authorization": f"Bearer {tokens['orders:read']}"},
            )
            assert status == 200
            assert json.loads(body)["headers"]["x-frontdoor-subject"] == "alice"
        finally:
            gateway.stop()
    finally:
        upstreams.close()
