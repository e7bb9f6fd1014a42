"""Reading an upstream's HTTP/1.1 responses, sans-IO, with llhttp (httptools) doing the framing."""

from __future__ import annotations

from typing import Final, Literal, Protocol

import httptools

from frontdoor.http.errors import ProtocolError
from frontdoor.http.fields import lowered
from frontdoor.http.headers import HOP_BY_HOP, OWN_PREFIX

BodyMode = Literal["none", "length", "chunked", "close"]
# framing (restated by the gateway) and the fields the gateway sets itself are not forwarded either
_NOT_FORWARDED: Final = HOP_BY_HOP | {b"content-length", b"x-request-id", b"traceparent"}
_PLAIN_TOKENS: Final = frozenset({b"keep-alive", b"close", b""})
_NO_TOKENS: Final[frozenset[bytes]] = frozenset()


def _digits(value: bytes) -> int:
    """A Content-Length llhttp has checked is one run of digits; as a loop, compiled, cheaper than int()
    on bytes for the short values of real responses."""
    if len(value) > 18:
        return int(value)
    number = 0
    for digit in value:
        number = number * 10 + digit - 48
    return number


def forwarded_lines(reader: ResponseReader) -> list[bytes]:
    """The reader's forwardable lines, less any field its Connection header names (rare)."""
    tokens = reader.tokens
    if not tokens:
        return reader.lines
    # a field name has no colon: the name of a line is what precedes its first one
    return [line for line in reader.lines if line.partition(b":")[0].lower() not in tokens]


class ResponseSink(Protocol):
    def on_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None: ...

    def on_response_head(
        self,
        status: int,
        reason: bytes,
        headers: list[tuple[bytes, bytes]],
        mode: BodyMode,
        length: int | None,
    ) -> None: ...

    def on_response_body(self, chunk: bytes) -> None: ...

    def on_response_end(self, reusable: bool) -> None: ...


class ResponseReader:
    """One per upstream connection; ``expect(method)`` before each request is sent."""

    __slots__ = (
        "_chunked",
        "_done",
        "_head_only",
        "_headers",
        "_in_trailers",
        "_length",
        "_parser",
        "_reason",
        "lines",
        "mode",
        "sink",
        "tokens",
    )

    def __init__(self, sink: ResponseSink) -> None:
        self.sink = sink
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._reason = b""
        self._head_only = False
        self._in_trailers = False
        self._done = False
        self._length: int | None = None
        self._chunked = False
        self.mode: BodyMode = "none"
        #: the header lines a proxy may forward as they are (hop-by-hop, framing, the gateway's own
        #: fields left out), built while parsing so that the response path does not loop again
        self.lines: list[bytes] = []
        #: the fields the response's Connection header names (its tokens other than keep-alive and
        #: close): hop-by-hop too. A shared empty set until a response names one (rare)
        self.tokens: frozenset[bytes] | set[bytes] = _NO_TOKENS

    def expect(self, method: str) -> None:
        if self._head_only:
            # llhttp cannot be told a response to HEAD has no body; a fresh parser starts clean.
            self._parser = httptools.HttpResponseParser(self)
        self._head_only = method == "HEAD"
        self._done = False

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; returns the bytes after a 101 head (the tunnel's), else None."""
        if self._done:
            if self._head_only or data:
                raise ProtocolError(502, "the upstream sent bytes after its response")
            return None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            return data[int(upgrade.args[0]) :]
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, ProtocolError):
                raise exc.__context__ from None
            if self._done and self._head_only:
                raise ProtocolError(502, "the upstream sent a body with its response to HEAD") from None
            raise ProtocolError(502, f"the upstream's response is malformed: {exc}") from None
        return None

    def eof(self) -> bool:
        """The upstream closed: True if that ended a close-delimited body (a complete response)."""
        if self.mode == "close" and not self._done:
            self._done = True
            self.sink.on_response_end(False)
            return True
        return self._done

    # --- llhttp callbacks ----------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._headers = []
        self._reason = b""
        self._in_trailers = False
        self._length = None
        self._chunked = False
        self.lines = []
        self.tokens = _NO_TOKENS

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_trailers:
            return  # trailer fields are not forwarded
        self._headers.append((name, value))
        lower = lowered(name)
        if lower in _NOT_FORWARDED:
            if lower == b"content-length":
                self._length = _digits(value)
            elif lower == b"transfer-encoding":
                self._chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
            elif lower == b"connection" and value not in _PLAIN_TOKENS:  # "keep-alive" names no field
                named = {token.strip().lower() for token in value.split(b",")} - _PLAIN_TOKENS
                if named:
                    self.tokens = self.tokens | named
        elif not lower.startswith(OWN_PREFIX):
            self.lines.append(b"%b: %b\r\n" % (name, value))  # compiled, cheaper than three concatenations

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.sink.on_informational(status, self._headers)
            return
        length = self._length
        chunked = self._chunked
        mode: BodyMode
        if self._head_only or status in (204, 304) or status == 101:
            mode = "none"
        elif chunked:
            mode = "chunked"
        elif length is not None:
            mode = "length"
        else:
            mode = "close"
        self.mode = mode
        self._in_trailers = True
        self.sink.on_response_head(status, self._reason, self._headers, mode, length)
        if mode == "none" and self._head_only:
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self._done:
            raise ProtocolError(502, "the upstream sent a body with its response to HEAD")
        self.sink.on_response_body(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            return  # an interim response (the final one follows), or 101: the connection is a tunnel now
        if not self._done:
            self._finish()

    def _finish(self) -> None:
        self._done = True
        reusable = self.mode != "close" and bool(self._parser.should_keep_alive())
        self.sink.on_response_end(reusable)
