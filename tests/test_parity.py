"""`frontdoor serve` and `frontdoor authz` decide identically: one table of requests, sent to the gateway
itself and, as check requests, to authz in the nginx, Traefik and Envoy dialects (real processes, real
sockets, the local identity provider for tokens).

Compared for every request: the status (nginx's answer mapped: it can only take 200, 401 and 403), the
deny kind every dialect names, the challenge, the Allow list, the identity the upstream receives, and
the contract clause both processes log as ``denied_by``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from frontdoor.idp.tokens import mint

from .authz_support import (
    BATCH_KEY,
    AccessContract,
    Process,
    process_env,
    start_authz,
    start_idp,
    start_serve,
)
from .harness import Upstreams, free_port, request

IDENTITY = ("x-frontdoor-subject", "x-frontdoor-scopes", "x-frontdoor-client", "x-frontdoor-issuer")
NGINX_STATUSES = (200, 401, 403)


@dataclass
class Stack:
    contract: AccessContract
    state: Path
    serve: Process
    serve_log: Path
    authz_port: int
    authz_log: Path
    envoy_port: int  # authz pinned to Envoy with --path-prefix /auth
    envoy_log: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("parity")
    state = root / "state"
    upstreams = Upstreams()
    processes: list[Process] = []
    try:
        contract = AccessContract(idp_port=free_port(), upstream_port=upstreams.start("shop"))
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        directory = contract.write(root / "contract")
        env = process_env(state)
        serve = start_serve(directory, env, root / "serve.log", contract.admin_port)
        processes.append(serve)
        authz, authz_port = start_authz(directory, env, root / "authz.log")
        processes.append(authz)
        envoy, envoy_port = start_authz(
            directory, env, root / "envoy.log", "--dialect", "envoy", "--path-prefix", "/auth"
        )
        processes.append(envoy)
        yield Stack(
            contract,
            state,
            serve,
            root / "serve.log",
            authz_port,
            root / "authz.log",
            envoy_port,
            root / "envoy.log",
        )
    finally:
        for process in processes:
            process.stop()
        upstreams.close()


Headers = Callable[[Stack], dict[str, str]]


def bearer(**kwargs: Any) -> Headers:
    """A token from the stack's identity provider, minted when the case runs."""

    def make(stack: Stack) -> dict[str, str]:
        token = mint(state=stack.state, issuer=stack.contract.issuer, **kwargs)
        return {"Authorization": "Bearer " + token}

    return make


def fixed(**headers: str) -> Headers:
    return lambda _stack: {name.replace("_", "-"): value for name, value in headers.items()}


@dataclass
class Case:
    name: str
    method: str
    path: str
    headers: Headers = field(default_factory=fixed)
    expected: int | None = None  # what serve answers; None: whatever it is, authz must agree
    host: str = "shop.test"
    subject: str | None = None  # the subject the upstream must see on an allow
    prime: bool = False  # send it once to each process first (to use up a rate limit)


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
ALL = [pytest.param(case, id=case.name) for case in (*CASES, *TOKEN_CASES)]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def check_request(stack: Stack, dialect: str, case: Case, headers: dict[str, str]) -> Answer:
    """The check request an ingress of ``dialect`` sends for ``case``, answered by authz."""
    port = stack.envoy_port if dialect == "envoy+prefix" else stack.authz_port
    base = {**headers, "X-Forwarded-For": "127.0.0.1"}
    if dialect == "nginx":
        method, target = "GET", "/auth"
        base |= {"Host": case.host, "X-Original-URI": case.path, "X-Original-Method": case.method}
    elif dialect == "traefik":
        method, target = "GET", "/auth"
        base |= {
            "Host": "127.0.0.1",
            "X-Forwarded-Method": case.method,
            "X-Forwarded-Host": case.host,
            "X-Forwarded-Uri": case.path,
            "X-Forwarded-Proto": "http",
        }
    else:
        method = case.method
        target = ("/auth" if dialect == "envoy+prefix" else "") + case.path
        base |= {"Host": case.host}
    status, answer_headers, body = request(port, method, target, base)
    return Answer(status, answer_headers, body)


def logged(log: Path, request_id: str) -> dict[str, Any]:
    """The access-log line of ``request_id`` (logs are flushed every 0.25 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                record = json.loads(line)
                if record.get("request_id") == request_id:
                    return record  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"{request_id} is not in {log}")


@pytest.mark.parametrize("case", ALL)
def test_serve_and_authz_decide_the_same(stack: Stack, case: Case) -> None:
    headers = case.headers(stack)
    slug = case.name.replace(" ", "-")
    if case.prime:
        primed = request(stack.contract.port, case.method, case.path, {**headers, "Host": case.host})[0]
        for port in (stack.authz_port, stack.envoy_port):
            target = ("/auth" if port == stack.envoy_port else "") + case.path
            request(port, case.method, target, {**headers, "Host": case.host})
        assert primed == 200  # the one request the hour allows
    status, served_headers, body = request(
        stack.contract.port,
        case.method,
        case.path,
        {**headers, "Host": case.host, "X-Request-Id": f"{slug}-serve"},
    )
    if case.expected is not None:
        assert status == case.expected, body
    seen: dict[str, str] = json.loads(body)["headers"] if status == 200 else {}
    upstream_identity = {name: seen.get(name, "") for name in IDENTITY}
    if case.subject is not None:
        assert upstream_identity["x-frontdoor-subject"] == case.subject
    kinds = set()
    checked = []
    for dialect in ("nginx", "traefik", "envoy", "envoy+prefix"):
        request_id = f"{slug}-{dialect}"
        answer = check_request(stack, dialect, case, {**headers, "X-Request-Id": request_id})
        expected = status if dialect != "nginx" or status in NGINX_STATUSES else 403
        assert answer.status == expected, (dialect, answer.body)
        if status == 200:
            assert {name: answer.headers.get(name) for name in IDENTITY} == upstream_identity, dialect
            assert "x-frontdoor-deny" not in answer.headers
        else:
            kinds.add(answer.headers["x-frontdoor-deny"])
            for name in ("www-authenticate", "allow"):
                assert answer.headers.get(name) == served_headers.get(name), (dialect, name)
            # the same wait, give or take the second between the two processes' buckets
            assert ("retry-after" in answer.headers) == ("retry-after" in served_headers), dialect
        checked.append((dialect, request_id, answer))
    # the logs last: they are written in batches
    serve_record = logged(stack.serve_log, f"{slug}-serve")
    for dialect, request_id, answer in checked:
        record = logged(stack.envoy_log if dialect == "envoy+prefix" else stack.authz_log, request_id)
        assert record["decision"] == status and record["status"] == answer.status
        assert record["denied_by"] == serve_record["denied_by"], dialect
        assert record["route"] == serve_record["route"], dialect
    assert len(kinds) <= 1, kinds  # every dialect names the same kind of denial
