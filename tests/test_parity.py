"""`frontdoor serve` and `frontdoor authz` decide identically: one table of requests, sent to the gateway
itself and, as check requests, to authz in the nginx, Traefik and Envoy dialects (real processes, real
sockets, the local identity provider for tokens).

Compared for every request: the status (nginx's answer mapped: it can only take 200, 401 and 403), the
deny kind every dialect names, the challenge, the Allow list, the identity the upstream receives, and
the contract clause both processes log as ``denied_by``. The table is in parity_cases.py: the rendered
``nginx.conf`` is run on it too (test_render_nginx.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .authz_support import (
    AccessContract,
    Process,
    process_env,
    start_authz,
    start_idp,
    start_serve,
)
from .harness import Upstreams, free_port, request
from .parity_cases import ALL_CASES, IDENTITY, Case, upstream_identity

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


ALL = [pytest.param(case, id=case.name) for case in ALL_CASES]


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
    slug = case.slug
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
    identity = upstream_identity(status, body)
    if case.subject is not None:
        assert identity["x-frontdoor-subject"] == case.subject
    kinds = set()
    checked = []
    for dialect in ("nginx", "traefik", "envoy", "envoy+prefix"):
        request_id = f"{slug}-{dialect}"
        answer = check_request(stack, dialect, case, {**headers, "X-Request-Id": request_id})
        expected = status if dialect != "nginx" or status in NGINX_STATUSES else 403
        assert answer.status == expected, (dialect, answer.body)
        if status == 200:
            assert {name: answer.headers.get(name) for name in IDENTITY} == identity, dialect
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
