"""Reading upstream responses in memory: framing modes, HEAD, interim responses, malformed input."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from frontdoor.http.errors import ProtocolError
from frontdoor.http.response import BodyMode, ResponseReader, forwarded_lines


@dataclass
class Sink:
    events: list[tuple[object, ...]] = field(default_factory=list)

    def on_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.events.append(("info", status))

    def on_response_head(
        self,
        status: int,
        reason: bytes,
        headers: list[tuple[bytes, bytes]],
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
