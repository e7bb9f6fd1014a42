"""Reading an upstream's HTTP/1.1 responses, sans-IO, with llhttp (httptools) doing the framing.

One shape of response is read without llhttp: a plain HTTP/1.1 head that arrives whole in one read,
framed by a single Content-Length, with no more bytes than that body after it. That is nearly every
response of a keep-alive upstream, and reading it in one pass, each line judged once and remembered
(http/plainhead.py), costs a fraction of llhttp's callbacks for every field. The pass only accepts what
llhttp would accept and read the same way; anything else (chunked, 1xx, 204/304, a field it is unsure
of, a head in pieces) goes to llhttp unread, which decides as always. tests/test_response.py checks
that both readers give the same events for the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, Protocol

import httptools

from frontdoor.http.errors import ProtocolError
from frontdoor.http.fields import OWN_PREFIX, PLAIN_CONNECTION_TOKENS, RESPONSE_NOT_FORWARDED, lowered
from frontdoor.http.plainhead import CLOSE, FORWARD, LENGTH, ODD, STATUS, field_line, status_line

BodyMode = Literal["none", "length", "chunked", "close"]
_NO_TOKENS: Final[frozenset[bytes]] = frozenset()
_NO_FIELDS: Final[tuple[tuple[bytes, bytes], ...]] = ()


def forwarded_lines(reader: ResponseReader) -> list[bytes]:
    """The reader's forwardable lines, less any field its Connection header names (rare)."""
    tokens = reader.tokens
    if not tokens:
        return reader.lines
    # a field name has no colon: the name of a line is what precedes its first one
    return [line for line in reader.lines if line.partition(b":")[0].lower() not in tokens]


class ResponseSink(Protocol):
    def on_informational(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> None: ...

    def on_response_head(
        self,
        status: int,
        reason: bytes,
        headers: Sequence[tuple[bytes, bytes]],
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
        "_fast",
        "_fresh",
        "_head_only",
        "_headers",
        "_in_trailers",
        "_length",
        "_parser",
        "_reason",
        "_remaining",
        "_reusable",
        "lines",
        "mode",
        "one_pass",
        "sink",
        "tokens",
    )

    def __init__(self, sink: ResponseSink, fast: bool = True) -> None:
        self.sink = sink
        self._fast = fast  # False: every response goes to llhttp (the tests compare the two)
        self._fresh = True  # nothing of the expected response read yet
        self._remaining = 0  # body bytes still to come of a response read in one pass
        self._reusable = False
        self.one_pass = False  # the response in progress is read without llhttp
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
        self._fresh = True
        self._remaining = 0
        self.one_pass = False

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; returns the bytes after a 101 head (the tunnel's), else None."""
        if self._done:
            if self._head_only or data:
                raise ProtocolError(502, "the upstream sent bytes after its response")
            return None
        if self._remaining:
            self._read_body(data)
            return None
        if self._fresh:
            self._fresh = False
            if self._fast and not self._head_only and self._read_whole_head(data):
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

    # --- the one-pass reading of a plain response ---------------------------------------------------

    def _read_whole_head(self, data: bytes) -> bool:
        """Read a plain response (see the module's docstring) and report it; False, having changed
        nothing, if ``data`` is anything else."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = data[:end].split(b"\r\n")
        status = status_line(lines[0])
        if status.kind != STATUS:
            return False
        forward: list[bytes] = []
        length = -1
        close = False
        for i in range(1, len(lines)):
            line = field_line(lines[i])
            kind = line.kind
            if kind == FORWARD:
                forward.append(line.text)
            elif kind == LENGTH:
                if length >= 0:
                    return False  # several: llhttp refuses them
                length = line.number
            elif kind == CLOSE:
                close = True
            elif kind == ODD:
                return False
        if length < 0:
            return False  # the body ends at the close: llhttp
        start = end + 4
        available = len(data) - start
        if available > length:
            return False  # more than the body: llhttp reads what follows as it always has
        # (the llhttp callbacks' own state is left alone: on_message_begin resets it for their next one)
        reason = status.text
        self.lines = forward
        self.tokens = _NO_TOKENS
        self.mode = "length"
        self._reusable = not close
        self._remaining = length - available
        self.one_pass = True
        self.sink.on_response_head(status.number, reason, _NO_FIELDS, "length", length)
        if available:
            self.sink.on_response_body(data[start:])
        if available == length:
            self._remaining = 0
            self._done = True
            self.sink.on_response_end(not close)
        return True

    def _read_body(self, data: bytes) -> None:
        """More of the body of a response read in one pass."""
        remaining = self._remaining
        size = len(data)
        if size < remaining:
            self._remaining = remaining - size
            self.sink.on_response_body(data)
            return
        # the body is complete; bytes after it are not a response to anything: the connection ends
        self._remaining = 0
        self._done = True
        self.sink.on_response_body(data if size == remaining else data[:remaining])
        self.sink.on_response_end(self._reusable and size == remaining)

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
        if lower in RESPONSE_NOT_FORWARDED:
            if lower == b"content-length":
                self._length = int(value)  # llhttp checked the digits; int() skips the whitespace it keeps
            elif lower == b"transfer-encoding":
                self._chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
            elif lower == b"connection" and value not in PLAIN_CONNECTION_TOKENS:  # "keep-alive" names none
                named = {token.strip().lower() for token in value.split(b",")} - PLAIN_CONNECTION_TOKENS
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
