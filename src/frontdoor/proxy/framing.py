"""Bytes the client connection sends that are not the upstream's: chunked framing of a forwarded body,
and the gateway's own answers (an error, a denial) in the project's JSON shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frontdoor.http.messages import error_response
from frontdoor.http.tracing import new_request_id, traceparent_of

if TYPE_CHECKING:
    from frontdoor.proxy.exchange import Exchange
    from frontdoor.proxy.runtime import Listener


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def own_answer(
    exchange: Exchange,
    listener: Listener,
    status: int,
    reason: str,
    extra: tuple[tuple[bytes, bytes], ...],
) -> bytes:
    """The gateway's own answer to ``exchange``: its JSON error naming the owner to ask, the request id,
    the trace context (started here if the request was answered before it went upstream), HSTS, and
    the fields the stages add to every response (``extra`` first: a denial's own)."""
    route = exchange.route
    owner = route.owner if route is not None else exchange.client.gateway.runtime.plan.platform_team
    if not exchange.trace_line:
        incoming = next((v for n, v in exchange.head.headers if n.lower() == b"traceparent"), None)
        exchange.trace_line = listener.trace(incoming, None)
        exchange.traceparent = traceparent_of(exchange.trace_line)
    trace = ((b"traceparent", exchange.traceparent),) if exchange.traceparent else ()
    fields = (*trace, *listener.hsts_field, *extra)
    admission = exchange.admission
    if admission is not None and admission.response_head:
        fields += tuple(admission.response_fields())
    return error_response(
        status,
        reason,
        exchange.request_id or new_request_id(),
        owner,
        close=exchange.close_after,
        extra_headers=fields,
        head_only=exchange.head.method == "HEAD",
    )
