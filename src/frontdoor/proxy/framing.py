"""Bytes the client connection sends around and instead of the upstream's: the head of a forwarded
response (the gateway's fields added, the body's framing decided), chunked framing of a body, and the
gateway's own answers (an error, a denial) in the project's JSON shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from frontdoor.http.headers import HOP_BY_HOP, downstream_response_headers
from frontdoor.http.messages import error_response, status_line
from frontdoor.http.response import BodyMode, forwarded_lines
from frontdoor.http.tracing import new_request_id, traceparent_of

if TYPE_CHECKING:
    from frontdoor.proxy.exchange import Exchange
    from frontdoor.proxy.runtime import Listener


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def informational_head(status: int, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """A 1xx response passed on to an HTTP/1.1 client, without its hop-by-hop fields."""
    fields = (n + b": " + v + b"\r\n" for n, v in headers if n.lower() not in HOP_BY_HOP)
    return b"".join([status_line(status), *fields, b"\r\n"])


def upgrade_head(exchange: Exchange, reason: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The upstream's 101 to a WebSocket upgrade, with the gateway's fields and the upgrade's own."""
    extra = exchange.hsts + b"connection: upgrade\r\nupgrade: websocket\r\n"
    lines = downstream_response_headers(headers, exchange.request_id, exchange.trace_line, extra)
    return b"".join([status_line(101, reason), *lines, b"\r\n"])


def response_head(
    exchange: Exchange, out: list[bytes], status: int, reason: bytes, mode: BodyMode, length: int | None
) -> None:
    """The head of the upstream's response as the client gets it, appended to ``out`` piece by piece
    (the connection's output, which ``Exchange.flush`` joins once with the body that came in the same
    read): the upstream's fields the reader kept, the request id, the trace context, HSTS and the
    stages' fields, then the body's framing for this client. Decides ``exchange.out_chunked`` (a body
    of unknown length to an HTTP/1.1 client) and ``exchange.close_after`` (an HTTP/1.0 client learns
    the end of such a body from the close)."""
    conn = exchange.upstream
    head = exchange.head
    out.append(status_line(status, reason))
    if conn is not None:
        out.extend(forwarded_lines(conn.reader))
    out.append(
        b"x-request-id: %b\r\n%b%b"
        % (exchange.request_id.encode("ascii"), exchange.trace_line, exchange.hsts)
    )
    admission = exchange.admission
    if admission is not None and admission.response_head:
        out.append(admission.response_head)
    if head.method == "HEAD" or mode == "none":
        if length is not None and status not in (204,) and status >= 200:
            out.append(b"content-length: %d\r\n" % length)
    elif mode == "length":
        out.append(b"content-length: %d\r\n" % (length or 0))
    elif head.version == "1.1":
        exchange.out_chunked = True
        out.append(b"transfer-encoding: chunked\r\n")
    else:
        exchange.close_after = True
    if exchange.close_after:
        out.append(b"connection: close\r\n")
    elif head.version == "1.0":
        out.append(b"connection: keep-alive\r\n")
    out.append(b"\r\n")


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
    fields: tuple[tuple[bytes, bytes], ...] = (
        ((b"traceparent", exchange.traceparent),) if exchange.traceparent else ()
    )
    if exchange.hsts:  # the line response heads carry, as a field: the entrypoint's (admit.py)
        name, _, value = exchange.hsts.rstrip(b"\r\n").partition(b": ")
        fields += ((name, value),)
    fields += extra
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
