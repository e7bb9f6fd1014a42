"""Span export (optional `otel` extra): a span per request in the request's own trace, through the
real gateway request path; skipped when the OpenTelemetry SDK is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdoor.observe import otlp

sdk = pytest.importorskip("opentelemetry.sdk.trace.export")
memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")


def test_no_endpoint_means_no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert otlp.from_environment() is None


def test_a_request_becomes_a_span_in_its_trace(tmp_path: Path) -> None:
    from typing import Any, cast

    from frontdoor.http.h1 import RequestHead
    from frontdoor.proxy.exchange import Exchange
    from frontdoor.proxy.runtime import Runtime

    exporter = memory.InMemorySpanExporter()
    export = otlp.with_exporter(exporter, "frontdoor-test", sdk.SimpleSpanProcessor)
    incoming = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    head = RequestHead("GET", "/orders/7?x=1", "1.1", [(b"traceparent", incoming)], "h", None, False, True)
    request = Exchange(cast(Any, None), head, Runtime.__new__(Runtime))  # no connection: only read
    request.traceparent = b"00-0af7651916cd43dd8448eb211c80319c-1111222233334444-01"
    request.status = 502
    request.request_id = "r1"
    export.export(request, None, 0.25)
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{span.context.span_id:016x}" == "1111222233334444"  # the id the upstream was given as parent
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert span.attributes is not None and span.attributes["url.path"] == "/orders/7"
    assert span.attributes["frontdoor.route"] == "unmatched" and not span.status.is_ok
    assert span.end_time is not None and span.start_time is not None
    assert abs((span.end_time - span.start_time) / 1e9 - 0.25) < 0.01


def test_the_gateway_exports_spans_to_an_otlp_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `frontdoor serve` sending OTLP/HTTP (protobuf) to a collector stand-in on loopback."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from .harness import ContractSpec, Gateway, Upstreams, request

    received: list[ExportTraceServiceRequest] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if self.path == "/v1/traces":
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                received.append(message)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    upstreams = Upstreams()
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)])
    # the gateway subprocess inherits them
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{collector.server_port}")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    gateway = Gateway(spec.write(tmp_path / "c"), spec, tmp_path / "log", "--no-watch")
    try:
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        status, headers, _ = request(
            spec.port, "GET", "/shop/traced", {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
        )
        assert status == 200
    finally:
        gateway.stop()
        collector.shutdown()
        upstreams.close()
    spans = [s for m in received for r in m.resource_spans for ss in r.scope_spans for s in ss.spans]
    span = next(s for s in spans if s.name == "GET /shop")
    assert span.trace_id.hex() == trace
    assert span.span_id.hex() == headers["traceparent"].split("-")[2]  # the id the upstream got as parent
    assert span.parent_span_id.hex() == "00f067aa0ba902b7"
