"""HTTP/1.1 and HTTP/2 decide alike: the parity table (parity_cases.py: routing, normalization, tokens,
API keys, scopes, claims, forged identity, rate limits) sent over both protocols to one running gateway
on one TLS entrypoint must give the same status, the same response fields (names and values, less the
per-request ones and HTTP/1.1's framing), the same error reason, and the same identity upstream.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from .authz_support import AccessContract, Process, process_env, start_idp, start_serve
from .h2client import H2Client, tls_context
from .harness import Upstreams, free_port
from .parity_cases import ALL_CASES, Case, upstream_identity

# differ per request, or per protocol by design (HTTP/1.1's framing and connection management)
PER_REQUEST = frozenset({"x-request-id", "traceparent", "date"})
HTTP1_ONLY = frozenset({"connection", "keep-alive", "transfer-encoding"})
# a number of seconds counted from the moment of each answer: present in both, values may differ by one
TIMED = frozenset({"retry-after", "ratelimit-reset", "ratelimit", "x-ratelimit-reset"})


@dataclass
class Stack:
    contract: AccessContract
    state: Path
    ca: trustme.CA
    serve: Process


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("h2parity")
    state = root / "state"
    ca = trustme.CA()
    issued = ca.issue_cert("shop.test", "eu.shop.test", "elsewhere.test")
    cert, key = root / "tls.crt", root / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    upstreams = Upstreams()
    serve = None
    try:
        contract = AccessContract(idp_port=free_port(), upstream_port=upstreams.start("shop"))
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        directory = contract.write(root / "contract")
        # the same contract, its entrypoint on TLS (ALPN h2 and http/1.1)
        edge = directory / "edge.yaml"
        edge.write_text(
            edge.read_text().replace(
                'trusted_proxies: ["127.0.0.1/32"]',
                'trusted_proxies: ["127.0.0.1/32"]\n      tls: {cert: secret:tls-cert, key: secret:tls-key}',
            )
        )
        env = directory / "env.yaml"
        env.write_text(
            env.read_text().replace(
                "  secrets:\n", f'  secrets:\n    tls-cert: "file:{cert}"\n    tls-key: "file:{key}"\n'
            )
        )
        serve = start_serve(directory, process_env(state), root / "serve.log", contract.admin_port)
        yield Stack(contract, state, ca, serve)
    finally:
        if serve is not None:
            serve.stop()
        upstreams.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def over_http1(stack: Stack, case: Case, headers: dict[str, str]) -> Answer:
    context = tls_context(stack.ca, ("http/1.1",))
    context.check_hostname = False  # dialled by address; the chain is still verified
    connection = http.client.HTTPSConnection("127.0.0.1", stack.contract.port, context=context, timeout=10)
    try:
        connection.request(case.method, case.path, headers={**headers, "Host": case.host})
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def over_http2(stack: Stack, case: Case, headers: dict[str, str]) -> Answer:
    client = H2Client(stack.contract.port, stack.ca, host=case.host)
    try:
        fields = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        answer = client.request(case.method, case.path, fields)
        assert answer.reset is None, f"stream reset with {answer.reset}"
        return Answer(answer.status, answer.headers, answer.body)
    finally:
        client.close()


def comparable(answer: Answer) -> dict[str, str]:
    fields = {
        name: "(timed)" if name in TIMED else value
        for name, value in answer.headers.items()
        if name not in PER_REQUEST and name not in HTTP1_ONLY
    }
    if answer.status == 200:
        # the demo upstream echoes the field names each client sent (http.client adds Accept-Encoding)
        fields["content-length"] = "(echo)"
    return fields


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in ALL_CASES])
def test_http1_and_http2_decide_the_same(stack: Stack, case: Case) -> None:
    headers = case.headers(stack)
    if case.prime:
        assert over_http1(stack, case, headers).status == 200  # the one request the hour allows
    first = over_http1(stack, case, headers)
    second = over_http2(stack, case, headers)
    if case.expected is not None:
        assert first.status == case.expected, first.body
    assert second.status == first.status, second.body
    assert comparable(second) == comparable(first)
    if first.status == 200:
        assert upstream_identity(200, second.body) == upstream_identity(200, first.body)
        seen1, seen2 = json.loads(first.body), json.loads(second.body)
        assert seen2["path"] == seen1["path"]  # the normalized path the upstream received
        if case.subject is not None:
            assert upstream_identity(200, second.body)["x-frontdoor-subject"] == case.subject
    else:
        assert json.loads(second.body)["reason"] == json.loads(first.body)["reason"]
