"""Header hygiene in memory: what goes upstream for a request head, and what comes back."""

from __future__ import annotations

import re

import pytest

from frontdoor.http.h1 import Limits, RequestHead, RequestReader
from frontdoor.http.headers import downstream_response_headers, upstream_request
from frontdoor.memo import Memo


class _One:
    head: RequestHead

    def on_request_head(self, head: RequestHead) -> None:
        self.head = head

    def on_request_body(self, chunk: bytes) -> None: ...

    def on_request_end(self) -> None: ...


def parse(raw: bytes) -> RequestHead:
    sink = _One()
    RequestReader(sink, Limits()).feed(raw)
    return sink.head


def fields(head: bytes) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\r\n")[1:]:
        if line:
            name, _, value = line.partition(b": ")
            out.setdefault(name.lower(), []).append(value)
    return out


def test_untrusted_client() -> None:
    head = parse(
        b"POST /a HTTP/1.1\r\nHost: shop.test\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
        b"Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: x\r\n"
        b"X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Frontdoor-Subject: admin\r\n"
        b"X-Request-Id: mine\r\nExpect: 100-continue\r\nContent-Length: 3\r\nAccept: */*\r\n\r\nabc"
    )
    forwarded = upstream_request(head, "/a?x", "192.0.2.1", False, "https", "rid-1")
    assert forwarded.head.startswith(b"POST /a?x HTTP/1.1\r\n") and forwarded.head.endswith(b"\r\n\r\n")
    got = fields(forwarded.head)
    for gone in (
        b"connection",
        b"x-hop",
        b"keep-alive",
        b"te",
        b"upgrade",
        b"proxy-authorization",
        b"forwarded",
        b"x-frontdoor-subject",
        b"expect",
    ):
        assert gone not in got, gone
    assert got[b"x-forwarded-for"] == [b"192.0.2.1"]
    assert got[b"x-forwarded-proto"] == [b"https"]
    assert got[b"x-forwarded-host"] == [b"shop.test"]
    assert got[b"x-request-id"] == [b"rid-1"]
    assert got[b"content-length"] == [b"3"] and got[b"accept"] == [b"*/*"] and got[b"host"] == [b"shop.test"]
    assert re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01", got[b"traceparent"][0])


def test_credentials_go_upstream_as_they_came_unless_connection_names_them() -> None:
    head = parse(
        b"GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer abc.def\r\nX-Api-Key: k1\r\n"
        b"authorization: Bearer second\r\n\r\n"
    )
    assert [lower for lower, _, _ in head.special] == [
        b"host",
        b"authorization",
        b"x-api-key",
        b"authorization",
    ]
    got = fields(upstream_request(head, "/a", "192.0.2.1", False, "http", "r").head)
    assert got[b"authorization"] == [b"Bearer abc.def", b"Bearer second"] and got[b"x-api-key"] == [b"k1"]
    hop = parse(b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: x-api-key\r\nX-Api-Key: k1\r\n\r\n")
    assert b"x-api-key" not in fields(upstream_request(hop, "/a", "192.0.2.1", False, "http", "r").head)


def test_trusted_proxy_chain_and_chunked_body() -> None:
    head = parse(
        b"POST /a HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.1\r\nX-Forwarded-For: 10.0.0.2\r\n"
        b"X-Forwarded-Proto: https\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    got = fields(upstream_request(head, "/a", "10.0.0.3", True, "http", "r").head)
    assert got[b"x-forwarded-for"] == [b"203.0.113.1, 10.0.0.2, 10.0.0.3"]
    assert got[b"x-forwarded-proto"] == [b"https"]
    assert got[b"transfer-encoding"] == [b"chunked"] and b"content-length" not in got


def test_http10_without_host_gets_one_and_websocket_keeps_its_upgrade() -> None:
    bare = parse(b"GET / HTTP/1.0\r\n\r\n")
    got = fields(
        upstream_request(bare, "/", "127.0.0.1", False, "http", "r", fallback_host="10.0.0.1:8080").head
    )
    assert got[b"host"] == [b"10.0.0.1:8080"]
    ws = parse(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: k\r\n\r\n"
    )
    got = fields(upstream_request(ws, "/ws", "127.0.0.1", False, "http", "r", websocket=True).head)
    assert got[b"upgrade"] == [b"websocket"] and got[b"connection"] == [b"upgrade"]
    assert got[b"sec-websocket-key"] == [b"k"]


def test_response_headers() -> None:
    lines = downstream_response_headers(
        [
            (b"Content-Type", b"text/plain"),
            (b"Connection", b"close, X-Internal"),
            (b"X-Internal", b"1"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Content-Length", b"3"),
            (b"X-Request-Id", b"upstream-made"),
            (b"X-Frontdoor-Debug", b"x"),
            (b"Set-Cookie", b"a=b"),
        ],
        "rid",
        b"traceparent: 00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01\r\n",
        b"strict-transport-security: max-age=1\r\n",
    )
    text = b"".join(lines).lower()
    assert b"content-type: text/plain" in text and b"set-cookie: a=b" in text
    for gone in (
        b"connection:",
        b"x-internal",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"upstream-made",
        b"x-frontdoor-debug",
    ):
        assert gone not in text
    assert b"x-request-id: rid\r\n" in text and b"strict-transport-security" in text


def test_absolute_form_replaces_host() -> None:
    head = parse(b"GET http://api.example.com:8080/x HTTP/1.1\r\nHost: other\r\n\r\n")
    got = fields(upstream_request(head, "/x", "127.0.0.1", False, "http", "r").head)
    assert got[b"host"] == [b"api.example.com:8080"]
    assert got[b"x-forwarded-host"] == [b"api.example.com:8080"]


def test_lowered_names_are_remembered_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    from frontdoor.http import fields

    monkeypatch.setattr(fields, "_LOWERED", Memo(2048))
    assert fields.lowered(b"Content-Type") == b"content-type" and b"Content-Type" in fields._LOWERED
    long_name = b"X-" + b"A" * 100
    assert fields.lowered(long_name) == long_name.lower() and long_name not in fields._LOWERED
    for n in range(fields._LOWERED.max_entries + 10):  # a client inventing names: emptied when full
        assert fields.lowered(b"X-Made-Up-%d" % n) == b"x-made-up-%d" % n
    assert 0 < len(fields._LOWERED) <= fields._LOWERED.max_entries
