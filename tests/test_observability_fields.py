"""The Edge's observability fields change what serve and authz do: ``tracing.propagate``,
``access_log.format``, ``access_log.headers`` and ``access_log.redact_headers`` (real gateway, real
upstreams, the access log file it writes)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from frontdoor.contract.models import Observability
from frontdoor.observe.accesslog import AccessLog, text_line

from .authz_support import process_env, start_authz
from .harness import ContractSpec, Gateway, Upstreams, raw_exchange, request

INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TOKEN = "Bearer tok-3f9a2c-never-logged"


@pytest.fixture
def serve(upstreams: Upstreams, tmp_path: Path) -> Iterator[Callable[[str], Gateway]]:
    started: list[Gateway] = []

    def start(observability: str) -> Gateway:
        spec = ContractSpec(
            shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")], observability=observability
        )
        root = tmp_path / f"g{len(started)}"
        gateway = Gateway(spec.write(root / "contract"), spec, root / "access.log")
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def _logged(gateway: Gateway, needle: str) -> str:
    """The access log line that contains ``needle`` (the log is written a few times a second)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if gateway.log.exists():
            for line in gateway.log.read_text().splitlines():
                if needle in line:
                    return line
        time.sleep(0.05)
    raise AssertionError(f"no access log line with {needle!r}: {gateway.log.read_text()!r}")


# --- tracing.propagate -----------------------------------------------------------------------------


def test_propagate_w3c_continues_the_callers_trace(serve: Callable[[str], Gateway]) -> None:
    gateway = serve("{access_log: {}, metrics: {}, tracing: {propagate: w3c}}")
    status, headers, body = request(gateway.spec.port, "GET", "/other/w3c", {"traceparent": INCOMING})
    sent = json.loads(body)["headers"]["traceparent"]
    assert status == 200 and sent.split("-")[1] == INCOMING.split("-")[1] and sent != INCOMING
    assert headers["traceparent"] == sent
    assert json.loads(_logged(gateway, "/other/w3c"))["trace_id"] == INCOMING.split("-")[1]


@pytest.mark.parametrize(
    "observability",
    ["{access_log: {}, metrics: {}, tracing: {propagate: none}}", "{access_log: {}, metrics: {}}"],
    ids=["propagate-none", "no-tracing-block"],
)
def test_propagate_none_makes_up_and_forwards_no_traceparent(
    serve: Callable[[str], Gateway], observability: str
) -> None:
    gateway = serve(observability)
    for path, sent in (("/other/fresh", {}), ("/other/continued", {"traceparent": INCOMING})):
        status, headers, body = request(gateway.spec.port, "GET", path, sent)
        assert status == 200
        assert "traceparent" not in json.loads(body)["headers"]  # neither made up nor passed on
        assert "traceparent" not in headers
        assert json.loads(_logged(gateway, path))["trace_id"] is None
    # the gateway's own answers carry none either
    status, headers, _ = request(gateway.spec.port, "GET", "/nowhere", {"traceparent": INCOMING})
    assert status == 404 and "traceparent" not in headers and headers["x-request-id"]


# --- access_log.format -----------------------------------------------------------------------------


def test_text_format_writes_one_human_line(serve: Callable[[str], Gateway]) -> None:
    gateway = serve("{access_log: {format: text}, metrics: {}}")
    status, headers, _ = request(gateway.spec.port, "GET", "/other/text?token=abc&x=1")
    assert status == 200
    line = _logged(gateway, "/other/text")
    assert not line.startswith("{")
    assert re.match(
        r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 "GET 127\.0\.0\.1:\d+/other/text" 200 ', line
    ), line
    assert f"request_id={headers['x-request-id']}" in line and "service=other" in line
    assert "query=token&x" in line and "abc" not in line  # parameter names only, as in JSON
    assert " subject=" not in line  # unset fields are left out


def test_text_line_quotes_what_could_break_a_line() -> None:
    line = text_line(
        {"time": "t", "client": "c", "method": "GET", "host": "h", "path": "/a b\n", "status": 200}
    )
    assert "\n" not in line and line == 't c "GET h/a b\\n" 200'


# --- access_log.headers and redact_headers ---------------------------------------------------------


def test_logged_headers_with_redaction(serve: Callable[[str], Gateway]) -> None:
    gateway = serve(
        "{access_log: {headers: [User-Agent, authorization, x-tenant], redact_headers: [authorization, x-tenant]},"
        " metrics: {}}"
    )
    request(
        gateway.spec.port,
        "GET",
        "/other/headers",
        {"User-Agent": "probe/1.0", "Authorization": TOKEN, "X-Tenant": "acme-secret", "X-Other": "unlisted"},
    )
    entry = json.loads(_logged(gateway, "/other/headers"))
    assert entry["headers"] == {
        "user-agent": "probe/1.0",
        "authorization": "[redacted]",
        "x-tenant": "[redacted]",
    }
    text = gateway.log.read_text()
    assert "tok-3f9a2c" not in text and "acme-secret" not in text and "unlisted" not in text


def test_without_headers_the_line_has_none(serve: Callable[[str], Gateway]) -> None:
    gateway = serve("{access_log: {redact_headers: []}, metrics: {}}")
    request(gateway.spec.port, "GET", "/other/plain", {"User-Agent": "probe/1.0", "Authorization": TOKEN})
    entry = json.loads(_logged(gateway, "/other/plain"))
    assert "headers" not in entry and "tok-3f9a2c" not in gateway.log.read_text()


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, data: str) -> int:
        self.text += data
        return len(data)

    def flush(self) -> None:
        pass


def test_records_written_by_authz_take_the_same_shape() -> None:
    sink = _Sink()
    log = AccessLog(sink)  # type: ignore[arg-type]
    settings = {"access_log": {"format": "text", "headers": ["cookie", "user-agent"]}}
    log.configure(Observability.model_validate(settings))  # cookie is in the default redact_headers
    log.write(
        {
            "time": "t",
            "client": "c",
            "method": "GET",
            "host": "h",
            "path": "/p",
            "status": 403,
            "deny": "access",
        },
        [(b"Cookie", b"session=s3cr3t"), (b"User-Agent", b"curl/8")],
    )
    log.flush()
    assert sink.text == 't c "GET h/p" 403 deny=access header.cookie=[redacted] header.user-agent=curl/8\n'


def test_an_edge_without_access_log_writes_no_line(serve: Callable[[str], Gateway]) -> None:
    gateway = serve("{metrics: {}}")
    assert request(gateway.spec.port, "GET", "/other/unlogged")[0] == 200
    gateway.stop()  # a drain writes whatever the log still holds
    assert not gateway.log.exists() or "/other/unlogged" not in gateway.log.read_text()
    gateway_with_log = serve("{access_log: {}, metrics: {}}")  # the same, with the block: logged
    assert request(gateway_with_log.spec.port, "GET", "/other/unlogged")[0] == 200
    gateway_with_log.stop()
    assert "/other/unlogged" in gateway_with_log.log.read_text()


# --- metrics ---------------------------------------------------------------------------------------


def test_metrics_are_served_on_the_declared_path_only(serve: Callable[[str], Gateway]) -> None:
    gateway = serve("{access_log: {}, metrics: {path: /stats/prom}}")
    status, body = gateway.admin("/stats/prom")
    assert status == 200 and b"frontdoor_" in body
    assert gateway.admin("/metrics")[0] != 200
    without = serve("{access_log: {}}")  # no metrics block: no metrics
    assert without.admin("/metrics")[0] != 200


# --- authz writes the same shape -------------------------------------------------------------------


def test_authz_logs_in_the_edges_format_with_its_headers(upstreams: Upstreams, tmp_path: Path) -> None:
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        observability="{access_log: {format: text, headers: [user-agent, cookie]}, metrics: {}}",
    )
    contract = spec.write(tmp_path / "contract")
    log = tmp_path / "authz.log"
    authz, port = start_authz(contract, process_env(tmp_path / "state"), log)
    try:
        check = (
            b"GET /auth HTTP/1.1\r\nHost: shop.test\r\nX-Original-URI: /other/checked\r\nX-Original-Method: GET\r\n"
            b"User-Agent: probe/2.0\r\nCookie: session=c00k1e-value\r\n\r\n"
        )
        assert b" 200 " in raw_exchange(port, check).split(b"\r\n", 1)[0]
    finally:
        authz.stop()  # the drain writes what the log holds
    line = next(line for line in log.read_text().splitlines() if "/other/checked" in line)
    assert not line.startswith("{") and '"GET shop.test/other/checked" 200' in line
    assert "header.user-agent=probe/2.0" in line and "header.cookie=[redacted]" in line
    assert "c00k1e-value" not in log.read_text()
