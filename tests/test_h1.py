"""The HTTP/1.1 request reader at the byte level: strict framing, limits, and what a sink sees."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import Limits, RequestHead, RequestReader


@dataclass
class Recorder:
    heads: list[RequestHead] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    ends: int = 0
    accept_websocket: bool = False
    reader: RequestReader | None = None

    def on_request_head(self, head: RequestHead) -> None:
        self.heads.append(head)
        self.bodies.append(b"")
        if head.upgrade == "websocket" and self.accept_websocket and self.reader:
            self.reader.accept_upgrade()

    def on_request_body(self, chunk: bytes) -> None:
        self.bodies[-1] += chunk

    def on_request_end(self) -> None:
        self.ends += 1


DEFAULT_LIMITS = Limits()


def read(data: bytes, limits: Limits = DEFAULT_LIMITS, split: int | None = None) -> Recorder:
    recorder = Recorder()
    reader = RequestReader(recorder, limits)
    recorder.reader = reader
    parts = [data] if split is None else [data[i : i + split] for i in range(0, len(data), split)]
    for part in parts:
        reader.feed(part)
    return recorder


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", b"", True),
        (b"1.1", b"keep-alive", True),
        (b"1.1", b"close", False),
        (b"1.1", b"Upgrade-Insecure, close", False),
        (b"1.0", b"", False),
        (b"1.0", b"Keep-Alive", True),
        (b"1.0", b"close", False),
    ],
)
def test_the_version_and_persistence_of_each_kind_of_request(
    version: bytes, connection: bytes, keep_alive: bool
) -> None:
    field = b"Connection: " + connection + b"\r\n" if connection else b""
    (head,) = read(b"GET / HTTP/" + version + b"\r\nHost: h\r\n" + field + b"\r\n").heads
    assert (head.version, head.keep_alive) == (version.decode(), keep_alive)


def test_simple_get() -> None:
    rec = read(b"GET /orders/7?x=1 HTTP/1.1\r\nHost: Shop.example.com\r\nAccept: */*\r\n\r\n")
    (head,) = rec.heads
    assert (head.method, head.target, head.version, head.host) == (
        "GET",
        "/orders/7?x=1",
        "1.1",
        "Shop.example.com",
    )
    assert head.keep_alive and not head.has_body and rec.ends == 1
    assert head.headers == [(b"Host", b"Shop.example.com"), (b"Accept", b"*/*")]


@pytest.mark.parametrize("split", [None, 1, 3, 7])
def test_bodies_and_pipelining_in_any_split(split: int | None) -> None:
    data = (
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    rec = read(data, split=split)
    assert [h.target for h in rec.heads] == ["/a", "/b", "/c"]
    assert rec.bodies == [b"hello", b"abcde", b""]
    assert rec.heads[0].content_length == 5 and rec.heads[1].chunked
    assert not rec.heads[2].keep_alive and rec.ends == 3


def test_http10_defaults_and_absolute_form() -> None:
    rec = read(b"GET / HTTP/1.0\r\n\r\n")
    assert rec.heads[0].version == "1.0" and not rec.heads[0].keep_alive and rec.heads[0].host == ""
    rec = read(b"GET http://api.example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n")
    assert (rec.heads[0].host, rec.heads[0].target) == ("api.example.com", "/x?y")


def test_expect_continue_and_upgrades() -> None:
    rec = read(b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
    assert rec.heads[0].expect_continue
    ws = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"
    recorder = Recorder(accept_websocket=True)
    reader = RequestReader(recorder, Limits())
    recorder.reader = reader
    assert reader.feed(ws) == b"\x81\x00"  # the tunnel's first bytes, not parsed as HTTP
    assert recorder.heads[0].upgrade == "websocket"
    # h2c is not forwarded as an upgrade: the request goes on as a plain one, and so does the connection
    rec = read(
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert [h.upgrade for h in rec.heads] == [None, None]
    assert [h.target for h in rec.heads] == ["/", "/next"]


# Each vector: the bytes, and the status the gateway must answer before closing the connection.
VECTORS = {
    "CL and TE": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    "TE and CL": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        400,
    ),
    "two CL equal": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    "two CL differ": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    "CL list": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    "CL sign": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400),
    "CL hex": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    "CL negative": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    "TE gzip": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    "TE gzip, chunked": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "TE chunked, gzip": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    "TE twice": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    "TE identity": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    "TE in 1.0": (b"POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "TE space before colon": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400),
    "control char": (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n", 400),
    "NUL in value": (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400),
    "bare LF": (b"GET / HTTP/1.1\nHost: h\n\n", 400),
    "bare CR": (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),
    "no Host": (b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
    "two Hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "bad Host": (b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400),
    "bad chunk size": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "chunk LF only": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n", 400),
    "space in target": (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "lowercase method": (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "HTTP/1.2": (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505),
    "HTTP/2.0": (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    "HTTP/2.0 keep-alive": (b"GET / HTTP/2.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", 505),
    "HTTP/0.9 keep-alive": (b"GET / HTTP/0.9\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n", 505),
    "CONNECT": (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
    "asterisk": (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "Expect other": (b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417),
    "upgrade with body": (
        b"POST / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
        b"Content-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
        400,
    ),
    "head too large": (b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 300 + b"\r\n\r\n", 431),
    "too many headers": (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 30 + b"\r\n", 431),
    "CL over limit": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n", 413),
    "chunked over limit": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"80\r\n"
        + b"a" * 128
        + b"\r\n"
        + b"80\r\n"
        + b"a" * 128
        + b"\r\n0\r\n\r\n",
        413,
    ),
    "target too long": (b"GET /" + b"a" * 400 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
}
SMALL = Limits(max_header_bytes=256, max_headers=20, max_body=200)


@pytest.mark.parametrize("name", sorted(VECTORS))
@pytest.mark.parametrize("split", [None, 1])
def test_malformed_requests_are_refused(name: str, split: int | None) -> None:
    data, status = VECTORS[name]
    recorder = Recorder()
    reader = RequestReader(recorder, SMALL)
    parts = [data] if split is None else [data[i : i + 1] for i in range(len(data))]
    with pytest.raises(ProtocolError) as info:
        for part in parts:
            reader.feed(part)
    assert info.value.status == status, info.value.reason
    # nothing after a framing error becomes a request: at most the first head was seen, never a second
    assert len(recorder.heads) <= 1
    assert all(h.target != "/smuggled" for h in recorder.heads)


def test_head_limit_applies_before_the_head_completes() -> None:
    reader = RequestReader(Recorder(), SMALL)
    reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
    with pytest.raises(ProtocolError) as info:
        for _ in range(10):
            reader.feed(b"a" * 50)  # a header that never ends is cut off, not buffered forever
    assert info.value.status == 431


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=64))
def test_any_bytes_give_requests_or_a_protocol_error(data: bytes, split: int) -> None:
    recorder = Recorder()
    reader = RequestReader(recorder, SMALL)
    try:
        for i in range(0, len(data), split):
            reader.feed(data[i : i + split])
    except ProtocolError as exc:
        assert 400 <= exc.status < 600


REQUEST_LINE = st.sampled_from([b"GET / HTTP/1.1\r\n", b"POST /x HTTP/1.1\r\n", b"GET /a?b HTTP/1.0\r\n"])
HEADER = st.tuples(
    st.sampled_from(
        [
            b"Host",
            b"Content-Length",
            b"Transfer-Encoding",
            b"Connection",
            b"Upgrade",
            b"X-A",
            b"Expect",
            b"host",
            b" Host",
            b"Host ",
        ]
    ),
    st.sampled_from(
        [
            b"h",
            b"0",
            b"5",
            b"chunked",
            b"close",
            b"upgrade",
            b"websocket",
            b"a\tb",
            b"-1",
            b"100-continue",
            b"",
            b"\x00",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(REQUEST_LINE, st.lists(HEADER, max_size=6), st.binary(max_size=40))
def test_header_soup_never_crashes(line: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    data = line + b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n" + body
    recorder = Recorder()
    try:
        RequestReader(recorder, SMALL).feed(data)
    except ProtocolError as exc:
        assert 400 <= exc.status < 600
    for head in recorder.heads:
        assert not (head.chunked and head.content_length is not None)


@pytest.mark.parametrize("split", [None, 1, 7])
def test_the_reader_keeps_nothing_of_a_finished_request(split: int | None) -> None:
    """Between requests the reader holds no field lists (idle connections cost less); trailer
    fields and the next request's fields must never land in a previous head."""
    data = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: y\r\nX-Kept: k\r\n\r\n"
    )
    recorder = read(data, split=split)
    assert [h.target for h in recorder.heads] == ["/a", "/b"] and recorder.bodies[0] == b"abc"
    assert (b"X-Kept", b"k") in recorder.heads[1].headers
    assert recorder.reader is not None and recorder.reader._fields is None


def test_trailers_never_join_the_heads_fields() -> None:
    """A chunked request's trailer section comes after its head was handed out, possibly before that
    head went upstream (a pipelined request waits its turn): a trailer "Host" or any other field must
    not appear in the head's fields, sorted or not."""
    data = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Kept: k\r\n\r\n"
        b"3\r\nabc\r\n0\r\nHost: evil\r\nX-Trailer: t\r\n\r\n"
    )
    head = read(data).heads[0]
    assert head.headers == [(b"Host", b"x"), (b"Transfer-Encoding", b"chunked"), (b"X-Kept", b"k")]
    assert head.plain == [b"X-Kept: k\r\n"]
    assert [lower for lower, _, _ in head.special] == [b"host", b"transfer-encoding"]


def test_trailers_count_against_max_headers() -> None:
    """Dropped, trailers still count: a head and its trailers together stay within max_headers."""
    limits = Limits(max_headers=3)
    head = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
    assert len(read(head + b"X-A: 1\r\n\r\n", limits).heads) == 1
    with pytest.raises(ProtocolError) as caught:
        read(head + b"X-A: 1\r\nX-B: 2\r\n\r\n", limits)
    assert caught.value.status == 431


def test_idle_readers_share_no_mutable_state() -> None:
    """A field reported to one idle reader (llhttp reports trailers after the head) must not show up
    in what another connection's reader holds: idle readers share no mutable list."""
    first, second = read(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), read(b"GET /b HTTP/1.1\r\nHost: y\r\n\r\n")
    assert first.reader is not None and second.reader is not None
    first.reader.on_header(b"X-Stray", b"1")
    held = repr(gc.get_referents(second.reader))  # what it holds, compiled (mypyc) or not
    assert "X-Stray" not in held and "Host" not in held  # nor its own finished request's fields
