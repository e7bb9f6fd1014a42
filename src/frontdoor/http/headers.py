"""Header hygiene for a proxy (RFC 9110 7.6.1), sans-IO: what goes upstream, and what comes back.

Hop-by-hop fields, and every field that ``Connection`` names, belong to one connection and are never
forwarded. Fields a client could use to impersonate the gateway or a trusted proxy are replaced:
``X-Forwarded-*`` and ``X-Request-Id`` are believed only from a peer in ``trusted_proxies``, and the
``X-Frontdoor-`` prefix is the gateway's own.
"""

from __future__ import annotations

from collections.abc import Sequence

from frontdoor.http.fields import CREDENTIALS as _CREDENTIALS
from frontdoor.http.fields import FORWARDING as _FORWARDING
from frontdoor.http.fields import HANDLED as _HANDLED
from frontdoor.http.fields import HOP_BY_HOP, OWN_PREFIX
from frontdoor.http.fields import RESTATED as _RESTATED
from frontdoor.http.h1 import RequestHead
from frontdoor.http.tracing import Tracer, traceparent_line

__all__ = ["HOP_BY_HOP", "OWN_PREFIX", "Forwarded", "downstream_response_headers", "upstream_request"]


class Forwarded:
    """What the gateway sends upstream for one request, and remembers for the response. A plain
    slotted class: made for every request, and a dataclass's generated __init__ stays Python code even
    in the compiled build."""

    __slots__ = ("head", "request_id", "trace_line", "traceparent")

    def __init__(self, head: bytes, request_id: str, trace_line: bytes) -> None:
        self.head = head  # the whole request head, CRLF CRLF included
        self.request_id = request_id
        self.trace_line = trace_line  # "traceparent: ...\r\n", or b"" when tracing is off
        self.traceparent = trace_line[13:-2]  # tracing.traceparent_of, without the call


def upstream_request(
    head: RequestHead,
    target: str,
    peer: str,
    trusted: bool,
    scheme: str,
    request_id: str,
    websocket: bool = False,
    identity: bytes = b"",
    fallback_host: str = "localhost",
    ids: str | None = None,
    trace: Tracer = traceparent_line,
) -> Forwarded:
    """The request head to send upstream for ``head``, with ``target`` as its path and query.

    ``request_id`` is the gateway's id for the request (a trusted proxy's, or a new one); whatever
    X-Request-Id the client sent is replaced by it. ``identity`` is the gateway's X-Frontdoor-* header
    lines (Admission.upstream_head), CRLF included. ``trace`` (tracing.TRACERS) makes the traceparent
    line; the client's own traceparent is never copied as it came.
    """
    tokens = head.connection_tokens
    plain, special = head.plain, head.special
    if plain is None:  # a head built by hand rather than by RequestReader
        plain, special = split_fields(head.headers)
    lines = [f"{head.method} {target} HTTP/1.1\r\n".encode("latin-1")]
    forwarded_for = forwarded_proto = forwarded_host = None
    traceparent: bytes | None = None
    has_host = False
    for lower, name, value in special:
        if lower in tokens or lower.startswith(OWN_PREFIX):
            continue
        if lower == b"host":
            has_host = True  # kept as the client sent it
            lines.append(b"%b: %b\r\n" % (name, value))
            continue
        if lower in _CREDENTIALS:
            lines.append(b"%b: %b\r\n" % (name, value))  # checked by the access stage, passed on as they came
            continue
        if lower in HOP_BY_HOP or lower in _RESTATED:
            continue  # Expect is answered by the gateway itself; lengths are re-stated below
        if lower in _FORWARDING:
            if trusted:
                if lower == b"x-forwarded-for":
                    forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
                elif lower == b"x-forwarded-proto":
                    forwarded_proto = value
                elif lower == b"x-forwarded-host":
                    forwarded_host = value
                else:
                    lines.append(name + b": " + value + b"\r\n")
            continue
        if lower == b"traceparent":
            traceparent = value
        # X-Request-Id: replaced by the gateway's own below
    if tokens:
        # fields the client's Connection header names are hop-by-hop too (rare): the name of a line
        # is what precedes its first colon
        lines.extend(line for line in plain if line.partition(b":")[0].lower() not in tokens)
    else:
        lines.extend(plain)

    if not has_host:
        # an HTTP/1.0 client may omit Host, but the HTTP/1.1 request sent upstream needs one (RFC 9112 3.2)
        lines.append(b"host: " + (head.host or fallback_host).encode("latin-1") + b"\r\n")
    peer_bytes = peer.encode("ascii")
    trace_line = trace(traceparent, ids)
    lines.append(
        b"x-forwarded-for: %b\r\nx-forwarded-proto: %b\r\nx-forwarded-host: %b\r\nx-request-id: %b\r\n%b"
        % (
            forwarded_for + b", " + peer_bytes if forwarded_for else peer_bytes,
            forwarded_proto or scheme.encode("ascii"),
            forwarded_host or head.host.encode("latin-1"),
            request_id.encode("ascii"),
            trace_line,
        )
    )
    if identity:
        lines.append(identity)
    if websocket:
        lines.append(b"connection: upgrade\r\nupgrade: websocket\r\n")
    if head.chunked:
        lines.append(b"transfer-encoding: chunked\r\n\r\n")
    elif head.content_length is not None:
        lines.append(b"content-length: %d\r\n\r\n" % head.content_length)
    else:
        lines.append(b"\r\n")
    return Forwarded(b"".join(lines), request_id, trace_line)


def split_fields(
    headers: list[tuple[bytes, bytes]],
) -> tuple[list[bytes], list[tuple[bytes, bytes, bytes]]]:
    """The lines of the fields copied as they are, and (lowered name, name, value) of the others."""
    plain: list[bytes] = []
    special: list[tuple[bytes, bytes, bytes]] = []
    for name, value in headers:
        lower = name.lower()
        if lower in _HANDLED or lower.startswith(OWN_PREFIX):
            special.append((lower, name, value))
        else:
            plain.append(name + b": " + value + b"\r\n")
    return plain, special


def connection_tokens(headers: Sequence[tuple[bytes, bytes]]) -> frozenset[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return frozenset(tokens)


def downstream_response_headers(
    headers: Sequence[tuple[bytes, bytes]],
    request_id: str,
    trace_line: bytes,
    extra: bytes = b"",
) -> list[bytes]:
    """The upstream's response header lines the client may see, plus the gateway's own; no framing."""
    tokens = connection_tokens(headers)
    drop = HOP_BY_HOP | tokens if tokens else HOP_BY_HOP
    lines = [
        name + b": " + value + b"\r\n"
        for name, value in headers
        if (lower := name.lower()) not in drop
        and lower not in {b"content-length", b"x-request-id", b"traceparent"}
        and not lower.startswith(OWN_PREFIX)
    ]
    lines.append(b"x-request-id: " + request_id.encode("ascii") + b"\r\n" + trace_line)
    if extra:
        lines.append(extra)
    return lines
