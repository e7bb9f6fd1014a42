"""``frontdoor verify`` against a real ``frontdoor serve`` over TLS: it passes where the edge honours the
contract, and catches an edge that runs a copy of the contract where a route became public and HSTS was
turned off, naming the route's clause and owner. The TLS probes, the pacing and the refusals are tested
on real sockets too."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import jsonschema
import pytest

from frontdoor.cli import main
from frontdoor.contract.load import load_valid_contract
from frontdoor.idp.tokens import mint
from frontdoor.plan import compile_plan
from frontdoor.verify.client import REQUEST_ID_PREFIX, Answer, Pacer, ProbeClient
from frontdoor.verify.judge import judge
from frontdoor.verify.probes import Credentials, Planner
from frontdoor.verify.tlsprobes import below_minimum, plain_http

from .authz_support import BATCH_KEY, Process, start_idp, start_serve
from .conftest import SHOP
from .harness import Upstreams, free_port
from .test_report_formats import SARIF_SCHEMA
from .verify_support import (
    ADMIN_TOKEN,
    APP_TEAM,
    PLATFORM_TEAM,
    VerifyContract,
    certificate,
    edge_env,
    rules_of,
    run_verify,
)


@dataclass
class Served:
    contract: VerifyContract
    directory: Path
    state: Path
    ca: Path
    log: Path
    upstreams: Upstreams
    env: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("verify-serve")
    upstreams = Upstreams()
    serve: Process | None = None
    try:
        tls = certificate(root / "tls")
        contract = VerifyContract(idp_port=free_port(), upstream_port=upstreams.start("shop"), tls=tls)
        state = root / "state"
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        env = edge_env(state)
        directory = contract.write(root / "contract")
        log = root / "serve.log"
        serve = start_serve(directory, env, log, contract.admin_port)
        yield Served(contract, directory, state, tls.ca, log, upstreams, env)
    finally:
        if serve is not None:
            serve.stop()
        upstreams.close()


def _token(served: Served, tmp_path: Path, scopes: list[str]) -> Path:
    token = mint("alice", scopes, issuer=served.contract.issuer, state=served.state)
    path = tmp_path / "token"
    path.write_text(token + "\n")
    return path


def test_verify_passes_against_serve(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _token(served, tmp_path, ["orders:read"])
    code, report = run_verify(
        capsys, served.directory, served.contract.base_url, served.ca,
        "--token-file", str(token), "--api-key", f"batch={BATCH_KEY}",
    )  # fmt: skip
    assert report["findings"] == [] and code == 0, report
    kinds = report["kinds"]
    expected = {
        "anonymous", "forged-signature", "expired", "alg-none", "wrong-audience", "token", "api-key",
        "method", "no-route", "path-trick", "plain-http",
    }  # fmt: skip
    assert expected <= set(kinds), kinds
    # the token opens /orders and /me and is refused /admin (403): three token probes, all as expected
    assert kinds["token"] == 3
    assert report["requests"] == report["probes"] + 2  # the TLS probes are paced and counted too
    # GET and HEAD only: nothing else reached the upstream
    seen = served.upstreams.states[served.contract.upstream_port].seen
    assert seen and {entry.split()[0] for entry in seen} <= {"GET", "HEAD"}, seen


def test_verify_catches_a_drifted_edge(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The edge runs a copy of the contract where GET /orders became public, /admin needs any user
    instead of the admin role, HSTS was turned off and the "limited" service lost its limit."""
    drifted = replace(
        served.contract,
        port=free_port(),
        admin_port=free_port(),
        hsts=False,
        limited=False,
        services=served.contract.services.replace(
            '{path: /orders, methods: [GET], access: {scopes: ["orders:read"]}}',
            "{path: /orders, methods: [GET], access: public}",
        ).replace("{path: /admin, access: {claims: {role: admin}}}", "{path: /admin, access: authenticated}"),
    )
    assert drifted.services != served.contract.services
    edge = start_serve(
        drifted.write(tmp_path / "copy"), served.env, tmp_path / "serve.log", drifted.admin_port
    )
    try:
        base_url = f"https://127.0.0.1:{drifted.port}"
        token = _token(served, tmp_path, ["orders:read"])  # no admin role: /admin must answer 403
        code, report = run_verify(
            capsys, served.directory, base_url, served.ca, "--burst", "--token", f"cat {token}"
        )
        assert code == 1
        expected = {
            "verify-open-door",  # GET /orders without credentials
            "verify-forged-token",  # ... and with forged tokens
            "verify-path-trick",  # ... and through /shop/../orders
            "verify-access",  # GET /admin with a token lacking the role
            "verify-hsts",
            "verify-ratelimit-headers",  # /limited answered without RateLimit fields ...
            "verify-rate-limit",  # ... and never 429 under --burst
        }
        assert rules_of(report) == expected, report
        (access,) = [f for f in report["findings"] if f["rule"] == "verify-access"]
        assert access["message"].startswith("GET /admin with the token given: expected 403, got 200"), access
        limit = next(f for f in report["findings"] if f["rule"] == "verify-rate-limit")
        assert "service limited has a limit of 1 per 3600s" in limit["message"], limit
        door = next(f for f in report["findings"] if f["rule"] == "verify-open-door")
        # the clause of the real contract, the team that runs the edge, the team that owns the route
        assert door["file"] == str(served.directory / "services.yaml")
        line = (served.directory / "services.yaml").read_text().splitlines()[door["line"] - 1]
        assert "/orders" in line and "GET" in line
        assert door["fix"] == PLATFORM_TEAM and f"owned by {APP_TEAM}" in door["message"]
        assert door["message"].startswith("open door: GET /orders without credentials")
        hsts = next(f for f in report["findings"] if f["rule"] == "verify-hsts")
        assert hsts["file"] == str(served.directory / "edge.yaml") and hsts["fix"] == PLATFORM_TEAM
        # the same findings in the CI formats check prints
        assert main(["verify", str(served.directory), "--env", "dev", "--base-url", base_url,
                     "--cacert", str(served.ca), "--rate", "500", "--format", "github"]) == 1  # fmt: skip
        github = capsys.readouterr().out
        assert "::error file=" in github and "title=verify-open-door::dev: open door" in github
        assert main(["verify", str(served.directory), "--env", "dev", "--base-url", base_url,
                     "--cacert", str(served.ca), "--rate", "500", "--format", "sarif"]) == 1  # fmt: skip
        sarif = json.loads(capsys.readouterr().out)
        jsonschema.validate(sarif, SARIF_SCHEMA)
        rules = {rule["id"]: rule for rule in sarif["runs"][0]["tool"]["driver"]["rules"]}
        assert rules["verify-open-door"]["helpUri"].endswith("/verify.md#findings")
    finally:
        edge.stop()


def test_verify_reaches_a_named_host_through_an_address(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entrypoint that serves only shop.test, reached at 127.0.0.1: verify sends Host and the TLS
    server name shop.test (the entrypoint's host, since the address is not one of them), and the
    certificate is verified for shop.test."""
    tls = certificate(tmp_path / "tls", "shop.test")
    named = replace(served.contract, port=free_port(), admin_port=free_port(), tls=tls, hosts='["shop.test"]')
    edge = start_serve(named.write(tmp_path / "named"), served.env, tmp_path / "serve.log", named.admin_port)
    try:
        code, report = run_verify(capsys, tmp_path / "named", named.base_url, tls.ca)
        assert code == 0 and report["findings"] == [], report
        assert {"anonymous", "path-trick", "no-route", "plain-http"} <= set(report["kinds"])
    finally:
        edge.stop()


def test_burst_reaches_a_limit_only_when_asked(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_verify(capsys, served.directory, served.contract.base_url, served.ca, "--burst")
    assert code == 0 and report["kinds"]["burst"] == 1, report
    # within the limit's cap (2 x burst + requests + 10); shop's limit is per subject: not verify's alone
    assert report["requests"] <= report["probes"] + 2 + 15
    assert any("shop's limit is keyed by subject" in reason for reason in report["skipped"])
    code, report = run_verify(capsys, served.directory, served.contract.base_url, served.ca)
    assert "burst" not in report["kinds"] and report["requests"] == report["probes"] + 2


def test_a_stopped_route_must_answer_503_naming_its_owner(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the admin token, verify reads the stops in force and expects the kill switch's 503 on a
    stopped route; without it, the same stop is drift (the route no longer answers as its access says)."""
    token = tmp_path / "admin-token"
    token.write_text(ADMIN_TOKEN + "\n")
    admin = f"http://127.0.0.1:{served.contract.admin_port}"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    stop = httpx.post(f"{admin}/admin/routes/shop.5/stop", json={"reason": "verify test"}, headers=auth)
    assert stop.status_code == 200 and "/me" in stop.text
    try:
        code, report = run_verify(
            capsys, served.directory, served.contract.base_url, served.ca, "--admin-token-file", str(token)
        )
        assert code == 0 and report["kinds"]["stopped"] == 1, report
        code, report = run_verify(capsys, served.directory, served.contract.base_url, served.ca)
        assert code == 1 and rules_of(report) == {"verify-access", "verify-forged-token"}, report
        assert all("GET /me " in f["message"] and "got 503" in f["message"] for f in report["findings"])
    finally:
        httpx.post(f"{admin}/admin/routes/shop.5/start", json={"reason": "verify test done"}, headers=auth)


def test_a_stopped_route_that_answers_is_a_finding() -> None:
    route = Planner(load_valid_contract(SHOP), compile_plan(load_valid_contract(SHOP), "dev").entrypoints[0],
                    "localhost", frozenset({"orders.3"}))  # fmt: skip
    (probe,) = [p for p in route.plan(Credentials(), False) if p.kind == "stopped"]
    assert probe.target == "/orders/admin"
    answered = Answer(401, httpx.Headers(), "id", b"{}")
    finding = judge(probe, answered, "dev", "platform")
    assert finding is not None and finding.rule == "verify-stop" and "owned by shop-app" in finding.message
    stopped = Answer(503, httpx.Headers(), "id", b'{"status":503,"owner":"shop-app"}')
    assert judge(probe, stopped, "dev", "platform") is None


def test_a_token_the_edge_should_refuse_is_a_usage_error(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An expired token given by the user would turn every probe into a false drift: exit 2 before
    anything is sent."""
    token = mint("alice", ["orders:read"], ttl=-60, issuer=served.contract.issuer, state=served.state)
    (tmp_path / "old").write_text(token)
    code = main(["verify", str(served.directory), "--env", "dev", "--base-url", served.contract.base_url,
                 "--token-file", str(tmp_path / "old")])  # fmt: skip
    assert code == 2 and "expired" in capsys.readouterr().err


def test_an_unreachable_edge_or_a_wrong_url_is_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"https://127.0.0.1:{free_port()}"
    code = main(["verify", str(served.directory), "--env", "dev", "--base-url", nowhere])
    assert code == 2 and "cannot be reached" in capsys.readouterr().err
    plain = served.contract.base_url.replace("https://", "http://")
    code = main(["verify", str(served.directory), "--env", "dev", "--base-url", plain])
    assert code == 2 and "declares TLS" in capsys.readouterr().err
    code = main(["verify", str(served.directory), "--env", "dev", "--base-url", served.contract.base_url,
                 "--budget", "5"])  # fmt: skip
    assert code == 2 and "over the budget" in capsys.readouterr().err


def test_only_get_and_head_without_allow_writes(served: Served) -> None:
    client = ProbeClient(
        served.contract.base_url, Pacer(100, 10), ssl.create_default_context(cafile=served.ca), None, False, 5
    )
    try:
        with pytest.raises(Exception, match="only GET and HEAD"):
            client.send("POST", "/orders", {})
        assert client.pacer.spent == 0  # refused before anything was sent
        answer = client.send("HEAD", "/shop", {})
        assert answer.status == 200 and answer.request_id.startswith(REQUEST_ID_PREFIX)
        # marked for the edge's log: serve keeps the id of a trusted proxy's request, and echoes it
        assert answer.headers["x-request-id"] == answer.request_id
    finally:
        client.close()


def test_the_pacer_keeps_the_rate_and_the_budget() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(5, 3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.take()
    assert slept == pytest.approx([0.2, 0.2])  # 5 a second: 0.2 s apart, the first at once
    with pytest.raises(Exception, match="budget of 3"):
        pacer.take()


class _TlsServer:
    """A TLS listener that completes handshakes from ``minimum`` up, then closes."""

    def __init__(self, cert: Path, key: Path, minimum: ssl.TLSVersion) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.minimum_version = minimum
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        self.sock.close()


def test_tls_probes_catch_an_old_version_and_plain_http(served: Served, tmp_path: Path) -> None:
    """The probes can fail: a listener that still speaks TLS 1.2 is caught for min_version 1.3, and a
    plain HTTP server answering is caught; serve's own TLS port refuses both."""
    tls = certificate(tmp_path / "tls")
    old = _TlsServer(tls.cert, tls.key, ssl.TLSVersion.TLSv1_2)
    try:
        answer = below_minimum(("127.0.0.1", old.port), None, "1.3", 5)
        assert answer.result == "accepted" and "TLSv1.2" in answer.detail
    finally:
        old.close()
    edge = ("127.0.0.1", served.contract.port)
    # serve's min_version is 1.2: 1.1 is refused, unless this machine's OpenSSL cannot offer 1.1 at all
    # (then skipped, never passed)
    assert below_minimum(edge, None, "1.2", 5).result in ("refused", "skipped")
    assert plain_http(edge, "127.0.0.1", 5).result == "refused"
    assert plain_http(("127.0.0.1", served.contract.upstream_port), "shop", 5).result == "accepted"
