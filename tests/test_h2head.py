"""HTTP/2 request heads to the pipeline's RequestHead, and the gateway's response heads back (sans-IO)."""

from __future__ import annotations

import pytest

from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import Limits
from frontdoor.http.h2head import Malformed, request_head, response_fields

LIMITS = Limits(max_header_bytes=1024, max_headers=10, max_body=1000)
BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"shop.test"), (b":path", b"/a?b=1")]


def test_a_request_becomes_the_head_http1_would_read() -> None:
    head = request_head([*BASE, (b"cookie", b"a=1"), (b"x-api-key", b"k"), (b"cookie", b"b=2")], True, LIMITS)
    assert (head.method, head.target, head.host, head.version) == ("GET", "/a?b=1", "shop.test", "2")
    assert not head.has_body and not head.keep_alive
    assert (b"host", b"shop.test") in head.headers  # from :authority, for routing and forwarding
    assert (b"cookie", b"a=1; b=2") in head.headers  # RFC 9113 8.2.3: crumbs joined
    assert (b"x-api-key", b"x-api-key", b"k") in head.special  # where the access stage looks for keys


def test_a_body_of_unknown_length_goes_upstream_chunked() -> None:
    assert request_head(BASE, False, LIMITS).chunked
    sized = request_head([*BASE, (b"content-length", b"5")], False, LIMITS)
    assert not sized.chunked and sized.content_length == 5


@pytest.mark.parametrize(
    "fields",
    [
        [*BASE, (b"connection", b"close")],
        [*BASE, (b"transfer-encoding", b"chunked")],
        [*BASE, (b"te", b"gzip")],
        [*BASE, (b"upgrade", b"websocket")],
        [*BASE, (b"proxy-connection", b"x")],
        [*BASE, (b"X-Upper", b"1")],
        [*BASE, (b"x-bad", b"a\r\nb")],
        [*BASE, (b"x-space", b" padded")],
        [*BASE, (b":status", b"200")],
        [*BASE, (b":path", b"/twice")],
        [(b"x-first", b"1"), *BASE],
        [(b":method", b"GET"), (b":authority", b"shop.test"), (b":path", b"/")],
        [*BASE, (b"host", b"other.test")],
        [*BASE, (b"content-length", b"5"), (b"content-length", b"6")],
        [*BASE, (b"content-length", b"-1")],
    ],
    ids=lambda fields: repr(fields[-1] if fields[0][0] == b":method" else fields[0]),
)
def test_malformed_requests_reset_the_stream(fields: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(Malformed):
        request_head(fields, False, LIMITS)


def test_te_trailers_is_allowed() -> None:
    assert request_head([*BASE, (b"te", b"trailers")], True, LIMITS).method == "GET"


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ([*BASE, (b"x-big", b"v" * 1100)], 431),
        ([*BASE, *[(b"x-n", b"1")] * 11], 431),
        ([*BASE, (b"content-length", b"1001")], 413),
        ([(b":method", b"CONNECT"), (b":authority", b"shop.test:443")], 405),
        ([(b":method", b"OPTIONS"), (b":scheme", b"https"), (b":authority", b"s"), (b":path", b"*")], 400),
        ([(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")], 400),
        ([(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a b"), (b":path", b"/")], 400),
    ],
)
def test_refusals_answer_as_http1_does(fields: list[tuple[bytes, bytes]], status: int) -> None:
    with pytest.raises(ProtocolError) as refused:
        request_head(fields, True, LIMITS)
    assert refused.value.status == status


def test_response_fields_drop_framing_and_lower_names() -> None:
    head = b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nconnection: close\r\ncontent-length: 3\r\nX-A: b "
    status, fields = response_fields(head)
    assert status == 201
    assert fields == [
        (b":status", b"201"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"3"),
        (b"x-a", b"b"),
    ]
