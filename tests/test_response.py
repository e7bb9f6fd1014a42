"""Reading upstream responses in memory: framing modes, HEAD, interim responses, malformed input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from frontdoor.http.errors import ProtocolError
from frontdoor.http.response import BodyMode, ResponseReader, forwarded_lines


@dataclass
class Sink:
    events: list[tuple[object, ...]] = field(default_factory=list)

    def on_informational(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> None:
        self.events.append(("info", status))

    def on_response_head(
        self,
        status: int,
        reason: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        mode: BodyMode,
        length: int | None,
    ) -> None:
        self.events.append(("head", status, reason, mode, length))

    def on_response_body(self, chunk: bytes) -> None:
        self.events.append(("body", chunk))

    def on_response_end(self, reusable: bool) -> None:
        self.events.append(("end", reusable))


def run(method: str, *parts: bytes) -> list[tuple[object, ...]]:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect(method)
    for part in parts:
        reader.feed(part)
    return sink.events


def test_content_length_and_keep_alive() -> None:
    assert run("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") == [
        ("head", 200, b"OK", "length", 2),
        ("body", b"ok"),
        ("end", True),
    ]


def test_chunked_with_trailers_in_pieces() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    events = run("GET", *[data[i : i + 3] for i in range(0, len(data), 3)])
    assert events[0] == ("head", 200, b"OK", "chunked", None)
    assert b"".join(e[1] for e in events if e[0] == "body") == b"abc"  # type: ignore[misc]
    assert events[-1] == ("end", True)


def test_head_response_has_no_body_and_the_next_response_parses() -> None:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect("HEAD")
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    assert sink.events == [("head", 200, b"OK", "none", 1000), ("end", True)]
    reader.expect("GET")
    reader.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert sink.events[-2:] == [("head", 204, b"No Content", "none", None), ("end", True)]


def test_interim_responses_then_final() -> None:
    events = run(
        "GET",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    )
    assert events == [("info", 103), ("info", 100), ("head", 200, b"OK", "length", 0), ("end", True)]


def test_close_delimited_body_ends_at_eof() -> None:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect("GET")
    reader.feed(b"HTTP/1.0 200 OK\r\n\r\nsome")
    assert reader.eof() is True
    assert sink.events[-1] == ("end", False)


def test_101_leaves_the_rest_to_the_tunnel() -> None:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect("GET")
    rest = reader.feed(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"
    )
    assert rest == b"\x81\x00"
    assert sink.events == [("head", 101, b"Switching Protocols", "none", None)]


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
    ],
)
def test_malformed_responses_are_502(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        run("GET", raw)
    assert info.value.status == 502


def test_bytes_after_a_complete_response_are_refused() -> None:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect("GET")
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(ProtocolError):
        reader.feed(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize(
    "length", ["0", "7", "007", "48", "1073741824", "999999999999999999", "12345678901234567890"]
)
def test_the_content_length_is_read_as_its_number(length: str) -> None:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect("HEAD")  # no body follows, however long it says it is
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: " + length.encode() + b"\r\n\r\n")
    assert sink.events[0] == ("head", 200, b"OK", "none", int(length))


@pytest.mark.parametrize(
    ("connection", "dropped"),
    [(b"keep-alive", set()), (b"close", set()), (b"Keep-Alive, X-Hop", {b"x-hop"}), (b"x-hop", {b"x-hop"})],
)
def test_fields_the_connection_header_names_are_not_forwarded(connection: bytes, dropped: set[bytes]) -> None:
    reader = ResponseReader(Sink())
    reader.expect("GET")
    reader.feed(
        b"HTTP/1.1 200 OK\r\nConnection: " + connection + b"\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n"
    )
    kept = {line.partition(b":")[0].lower() for line in forwarded_lines(reader)}
    assert kept == {b"x-hop"} - dropped


# --- the one-pass reading of plain responses, against llhttp's --------------------------------------


@dataclass
class Recorder(Sink):
    """Also what the reader would forward, as (lowered name, value) pairs: the one-pass reader copies
    lines as they came where llhttp's are rebuilt, so their spelling of whitespace may differ."""

    reader: ResponseReader | None = None

    def on_response_head(
        self,
        status: int,
        reason: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        mode: BodyMode,
        length: int | None,
    ) -> None:
        super().on_response_head(status, reason, headers, mode, length)
        assert self.reader is not None
        fields = []
        for line in b"".join(forwarded_lines(self.reader)).split(b"\r\n")[:-1]:
            name, _, value = line.partition(b":")
            fields.append((name.lower(), value.strip(b" \t")))
        self.events.append(("fields", fields))


def read_as(fast: bool, method: str, parts: list[bytes]) -> tuple[list[tuple[object, ...]], bool]:
    """The events up to the end of the first response (a status of 502 standing for a refusal), the
    body as one piece; and whether the reader read it in one pass."""
    sink = Recorder()
    reader = ResponseReader(sink, fast=fast)
    sink.reader = reader
    reader.expect(method)
    error = None
    for part in parts:
        if any(event[0] == "end" for event in sink.events):
            break
        try:
            if reader.feed(part) is not None:
                break  # a tunnel
        except ProtocolError as exc:
            error = exc.status
            break
    else:
        reader.eof()
    events: list[tuple[object, ...]] = []
    body = b""
    end: tuple[object, ...] | None = None
    for event in sink.events:
        if event[0] == "end":
            end = event
            break
        if event[0] == "body":
            body += event[1]  # type: ignore[operator]
        else:
            events.append(event)
    if body:
        events.append(("body", body))
    if end is not None and error is not None:
        # bytes after a complete response: llhttp's reader ends it and then refuses them, the one pass
        # ends it as not reusable; either way the response is whole and the connection closed
        end, error = ("end", False), None
    if end is not None:
        events.append(end)
    if error is not None:
        events.append(("error", error))
    return events, reader.one_pass


PLAIN_FIELDS = [
    b"Server: nginx/1.22.1",
    b"Date: Thu, 26 Nov 2026 17:06:46 GMT",
    b"Content-Type: text/plain; charset=utf-8",
    b"content-type:text/html",
    b"X-Empty:",
    b"X-Spaces:   padded value \t ",
    b"X-Obs-Text: caf\xc3\xa9",
    b"Cache-Control: no-store",
    b"Set-Cookie: a=1; Path=/",
    b"Keep-Alive: timeout=5",
    b"Connection: keep-alive",
    b"Connection: close",
    b"Connection: Keep-Alive, Close",
    b"X-Request-Id: upstream-id",
    b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    b"X-Frontdoor-Subject: alice",
    b"Proxy-Authenticate: Basic",
]
ODD_FIELDS = [
    b"Connection: x-hop",
    b"X-Hop: dropped when named",
    b"Transfer-Encoding: chunked",
    b"Upgrade: websocket",
    b"Content-Length: 5",
    b"Content-Length: 05",
    b"Content-Length: 0",
    b"Content-Length:  3 ",
    b"Content-Length: 5, 5",
    b"Content-Length: -1",
    b"Content-Length: 99999999999999999999",
    b"Bad Name: space in the name",
    b"X-Colon : space before the colon",
    b" folded: continuation",
    b"X-Control: a\x01b",
    b"X-Del: a\x7fb",
    b"X-Bare-CR: a\rb",
    b"no-colon-at-all",
    b":empty-name",
]
PLAIN_STATUS_LINES = [
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 201 Created",
    b"HTTP/1.1 404 Not Found",
    b"HTTP/1.1 503 Service Unavailable",
    b"HTTP/1.1 200 ",
    b"HTTP/1.1 200 Reason \xe2\x9c\x93 with obs-text",
    b"HTTP/1.1 200 Tab\tin the reason",
]
ODD_STATUS_LINES = [
    b"HTTP/1.1 200",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 Not Modified",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 101 Switching Protocols",
    b"HTTP/1.1 199 Odd",
    b"HTTP/1.1 600 Beyond",
    b"HTTP/1.1 2x0 Letters",
    b"HTTP/1.0 200 OK",
    b"HTTP/1.2 200 OK",
    b"HTTP/1.1  200 OK",
]


@st.composite
def responses(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    """Mostly responses the one pass reads (or that differ from one in a single detail), some odder."""
    odd = draw(st.integers(0, 3))  # how many odd parts: none in half the cases
    odd = odd - 1 if odd > 1 else 0
    status = draw(st.sampled_from(ODD_STATUS_LINES if odd and draw(st.booleans()) else PLAIN_STATUS_LINES))
    fields = draw(st.lists(st.sampled_from(PLAIN_FIELDS), max_size=6))
    for _ in range(odd):
        fields.insert(draw(st.integers(0, len(fields))), draw(st.sampled_from(ODD_FIELDS)))
    length = draw(st.integers(0, 12))
    if draw(st.integers(0, 5)):
        fields.insert(draw(st.integers(0, len(fields))), b"Content-Length: %d" % length)
    bare_lf = odd and draw(st.booleans())
    endings = [draw(st.sampled_from([b"\r\n"] * 6 + [b"\n"])) if bare_lf else b"\r\n" for _ in fields]
    head = status + b"\r\n" + b"".join(f + e for f, e in zip(fields, endings, strict=True)) + b"\r\n"
    # the body: as long as said, shorter (cut by a close), or longer (bytes no one asked for)
    raw = head + draw(st.binary(min_size=length, max_size=length) | st.binary(max_size=16))
    cuts = sorted(
        draw(
            st.lists(
                st.integers(1, max(1, len(raw) - 1)),
                max_size=draw(st.sampled_from([0, 0, 1, 3])),
                unique=True,
            )
        )
    )
    parts = [raw[i:j] for i, j in zip([0, *cuts], [*cuts, len(raw)], strict=True) if raw[i:j]]
    return draw(st.sampled_from(["GET", "GET", "GET", "POST", "HEAD"])), parts


@settings(max_examples=1500, deadline=None)
@given(responses())
@example(("GET", [b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\nok"]))
@example(("GET", [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok", b"ok"]))
def test_one_pass_reading_agrees_with_llhttp(case: tuple[str, list[bytes]]) -> None:
    method, parts = case
    assert read_as(True, method, parts)[0] == read_as(False, method, parts)[0]


def test_plain_responses_are_read_in_one_pass() -> None:
    """The agreement above is worth something only if the one pass is taken: the common responses
    take it, and the rest are left to llhttp."""
    common = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"
    assert read_as(True, "GET", [common + b"ok"])[1]
    assert read_as(True, "GET", [common, b"o", b"k"])[1]
    assert not read_as(True, "GET", [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"])[1]
    assert not read_as(True, "GET", [common[:20], common[20:] + b"ok"])[1]  # the head in two reads
    assert not read_as(False, "GET", [common + b"ok"])[1]


def test_one_pass_body_then_bytes_past_it_ends_the_connection() -> None:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect("GET")
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    reader.feed(b"cdHTTP/1.1 200 OK\r\n")  # the rest of the body, and a response nobody asked for
    assert sink.events == [
        ("head", 200, b"OK", "length", 4),
        ("body", b"ab"),
        ("body", b"cd"),
        ("end", False),
    ]
    with pytest.raises(ProtocolError):
        reader.feed(b"more")


def test_one_pass_body_cut_short_by_the_close_is_not_complete() -> None:
    sink = Sink()
    reader = ResponseReader(sink)
    reader.expect("GET")
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    assert reader.eof() is False
    assert sink.events[-1] == ("body", b"ab")
