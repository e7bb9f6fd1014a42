"""HTTP/2 request heads in, HTTP/1.1 request heads out, and back again for the response, sans-IO.

An HTTP/2 stream is served by the same request pipeline as an HTTP/1.1 request: its decoded field
list (RFC 9113 8.3) becomes the RequestHead the HTTP/1.1 reader would have made, after the checks
RFC 9113 asks of a server. Two kinds of refusal, as the RFC distinguishes them:

- ``Malformed``: the field list breaks HTTP/2's own rules (8.2.1, 8.2.2, 8.3): a stream error of type
  PROTOCOL_ERROR, no response. Connection-specific fields are here: in HTTP/1.1 they would frame the
  message, and a gateway that passed them on to an HTTP/1.1 upstream would invite request smuggling.
- ``ProtocolError``: a well-formed request the gateway refuses as it refuses the same HTTP/1.1 request
  (431, 413, 400, 405), answered with the same JSON error.

The response goes the other way: the connection code writes an HTTP/1.1 head (our own bytes, never
a peer's unchecked ones), and ``response_fields`` turns it into HTTP/2 fields, framing fields dropped.
"""

from __future__ import annotations

import re
from typing import Final

from frontdoor.http.errors import ProtocolError
from frontdoor.http.fields import HOP_BY_HOP, Field
from frontdoor.http.h1 import Limits, RequestHead, _valid_host
from frontdoor.http.headers import split_fields


class Malformed(Exception):
    """The stream's field list is malformed (RFC 9113 8.1.1): reset it with PROTOCOL_ERROR."""


_PSEUDO: Final = frozenset({b":method", b":scheme", b":authority", b":path"})
# RFC 9113 8.2.2: fields that are specific to one HTTP/1.1 connection; TE is allowed as "trailers" only
_CONNECTION_SPECIFIC: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
# RFC 9110 5.1 token characters, lower case only (RFC 9113 8.2.1: upper case makes the field malformed)
_NAME: Final = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9a-z]+$")
# RFC 9113 8.2.1: no NUL, CR or LF anywhere, no whitespace at either end
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]|^[ \t]|[ \t]$")
_METHOD: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DIGITS: Final = re.compile(rb"^[0-9]{1,18}$")
# the same shared method strings the HTTP/1.1 reader gives (no decode per request)
_METHODS: Final[dict[bytes, str]] = {
    name.encode("ascii"): name
    for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT")
}


def request_head(fields: list[Field], end_stream: bool, limits: Limits) -> RequestHead:
    """The RequestHead for an HTTP/2 request's decoded fields; ``end_stream``: it has no body.

    Raises Malformed (reset the stream) or ProtocolError (answer it as HTTP/1.1 would)."""
    pseudo: dict[bytes, bytes] = {}
    headers: list[Field] = []
    cookies: list[bytes] = []
    lengths: list[bytes] = []
    hosts: list[bytes] = []
    size = 0
    for name, value in fields:
        if name[:1] == b":":
            if headers or cookies or name not in _PSEUDO or name in pseudo:
                raise Malformed(f"pseudo-header {name!r} unknown, repeated or after a regular field")
            pseudo[name] = value
            continue
        if _NAME.match(name) is None:
            raise Malformed(f"field name {name!r} is not a lower-case token")
        if _BAD_VALUE.search(value) is not None:
            raise Malformed(f"the value of {name.decode('ascii')} is not a valid field value")
        if name in _CONNECTION_SPECIFIC or (name == b"te" and value.lower() != b"trailers"):
            raise Malformed(f"connection-specific field {name.decode('ascii')} in an HTTP/2 request")
        size += len(name) + len(value) + 4
        if name == b"cookie":
            cookies.append(value)  # RFC 9113 8.2.3: crumbs, joined below into one HTTP/1.1 field
            continue
        if name == b"content-length":
            lengths.append(value)
        elif name == b"host":
            hosts.append(value)
        headers.append((name, value))
    if len(headers) + len(cookies) > limits.max_headers:
        raise ProtocolError(431, "the request has too many header fields")

    raw_method = pseudo.get(b":method")
    path = pseudo.get(b":path")
    if raw_method is None:
        raise Malformed("the request has no :method")
    method = _METHODS.get(raw_method) or raw_method.decode("latin-1")
    if _METHOD.match(method) is None:
        raise Malformed("the request's :method is not a token")
    if method == "CONNECT":
        raise ProtocolError(405, "CONNECT is not served by this gateway")  # as over HTTP/1.1
    if path is None or pseudo.get(b":scheme") is None:
        raise Malformed("the request lacks :path or :scheme")
    if not path or _BAD_VALUE.search(path) is not None or b" " in path:
        raise Malformed("the request's :path is not valid")
    if len(path) + size > limits.max_header_bytes:
        raise ProtocolError(431, "the request head is larger than max_header_bytes")
    if not path.startswith(b"/"):
        raise ProtocolError(400, "the request target must be an absolute path")

    authority = pseudo.get(b":authority")
    if len(hosts) > 1:
        raise ProtocolError(400, "the request has more than one Host header")
    if authority is not None and hosts and hosts[0] != authority:
        # RFC 9113 8.3.1: two different hosts for one request; routing on one and forwarding the other
        # is how a request reaches a host it was not allowed on
        raise Malformed("the Host field differs from :authority")
    host_bytes = authority if authority is not None else (hosts[0] if hosts else b"")
    if not host_bytes:
        raise ProtocolError(400, "an HTTP/2 request needs :authority or a Host header")
    if not _valid_host(host_bytes):
        raise ProtocolError(400, "the Host header is not a valid host")
    if not hosts:
        headers.insert(0, (b"host", host_bytes))  # the Host the HTTP/1.1 pipeline routes and forwards
    if cookies:
        headers.append((b"cookie", b"; ".join(cookies)))

    content_length: int | None = None
    if lengths:
        if any(_DIGITS.match(v) is None for v in lengths) or len(set(lengths)) > 1:
            raise Malformed("the request's content-length is not one number")
        content_length = int(lengths[0])
        if content_length > limits.max_body:
            raise ProtocolError(413, "the request body is larger than max_request_body")
        if end_stream and content_length:
            raise Malformed("the request's content-length promises a body it ends without")
    # A body of unknown length (DATA frames with no content-length) goes upstream chunked.
    chunked = content_length is None and not end_stream
    plain, special = split_fields(headers)
    return RequestHead(
        method,
        path.decode("latin-1"),
        "2",  # the access log's protocol; the response's end is the stream's (no HTTP/1.1 framing)
        headers,
        host_bytes.decode("ascii"),
        content_length,
        chunked,
        False,  # one exchange per stream: the stream's end is the "connection's"
        plain=plain,
        special=special,
    )


def response_fields(head: bytes) -> tuple[int, list[Field]]:
    """The status and the HTTP/2 fields of an HTTP/1.1 response head the gateway wrote (status line,
    field lines, no final empty line): names lowered, hop-by-hop and framing fields dropped."""
    lines = head.split(b"\r\n")
    status = int(lines[0][9:12])
    fields: list[Field] = [(b":status", lines[0][9:12])]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lower = name.strip().lower()
        if lower and lower not in HOP_BY_HOP:
            fields.append((lower, value.strip()))
    return status, fields
