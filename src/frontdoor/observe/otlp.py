"""Optional span export with OpenTelemetry OTLP: one server span per request, in the request's trace.

Active only when the ``otel`` extra is installed (``pip install 'frontdoor-gateway[otel]'``) and an
endpoint is configured the standard way (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, plus the other ``OTEL_*`` variables the exporter reads). The
span's trace id and span id are the ones the gateway already put in the ``traceparent`` it sent
upstream, so the upstream's spans nest under the gateway's; its parent is the caller's span, if the
request came with a valid ``traceparent``. Spans are batched and exported off the event loop by the
SDK's BatchSpanProcessor thread.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from frontdoor.proxy.exchange import Exchange

log = logging.getLogger("frontdoor.otlp")


class SpanExport:
    """Turns finished requests into spans; built by ``from_environment`` when export is configured."""

    def __init__(self, provider: Any, ids: Any) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.provider = provider
        self.ids = ids  # the provider's id generator: told the ids of the next span
        self.tracer = provider.get_tracer("frontdoor")

    def export(self, request: Exchange, route_id: str | None, seconds: float) -> None:
        traceparent = request.traceparent
        if len(traceparent) != 55:
            return
        trace = self._trace
        parent = None
        for name, value in request.head.headers:
            if name.lower() == b"traceparent" and len(value) == 55:
                try:
                    parent_id = int(value[36:52], 16)
                except ValueError:
                    break
                if parent_id and value[3:35] == traceparent[3:35]:  # continued: the caller's span
                    context = trace.SpanContext(
                        int(traceparent[3:35], 16), parent_id, is_remote=True, trace_flags=trace.TraceFlags(1)
                    )
                    parent = trace.set_span_in_context(trace.NonRecordingSpan(context))
                break
        self.ids.next = (int(traceparent[3:35], 16), int(traceparent[36:52], 16))
        end = time.time_ns()
        head = request.head
        route = request.route
        span = self.tracer.start_span(
            f"{head.method} {route.path}" if route is not None else head.method,
            context=parent,
            kind=trace.SpanKind.SERVER,
            start_time=end - int(seconds * 1e9),
            attributes={
                "http.request.method": head.method,
                "http.response.status_code": request.status,
                "url.path": head.target.partition("?")[0],
                "frontdoor.route": route_id or "unmatched",
                "frontdoor.service": route.service if route is not None else "",
                "frontdoor.owner": route.owner if route is not None else "",
                "frontdoor.request_id": request.request_id,
            },
        )
        if request.status >= 500:
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end(end_time=end)

    def shutdown(self) -> None:
        self.provider.shutdown()


def from_environment(service_name: str = "frontdoor") -> SpanExport | None:
    """A SpanExport if the SDK is installed and an OTLP endpoint is configured; otherwise None."""
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed: no spans")
        return None
    export = with_exporter(OTLPSpanExporter(), service_name, BatchSpanProcessor)
    log.info("exporting spans with OTLP")
    return export


def with_exporter(exporter: Any, service_name: str, processor: Any) -> SpanExport:
    """A SpanExport sending to ``exporter`` through ``processor`` (a SpanProcessor class)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class GivenIds(RandomIdGenerator):  # type: ignore[misc,unused-ignore]  # Any without the extra
        """The ids the gateway already chose for the request's span (random ones if none were given)."""

        def __init__(self) -> None:
            self.next: tuple[int, int] | None = None

        def generate_trace_id(self) -> int:
            return self.next[0] if self.next else super().generate_trace_id()

        def generate_span_id(self) -> int:
            given, self.next = self.next, None
            return given[1] if given else super().generate_span_id()

    ids = GivenIds()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}), id_generator=ids)
    provider.add_span_processor(processor(exporter))
    return SpanExport(provider, ids)
