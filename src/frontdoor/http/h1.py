"""HTTP/1.1 request reading, sans-IO: bytes in, callbacks out, strict framing (RFC 9112).

llhttp (through httptools) already refuses most smuggling vectors: Content-Length with
Transfer-Encoding, duplicate or malformed Content-Length, whitespace before a colon, obsolete line
folding, bare CR or LF, control characters in values. On top of it this module refuses what llhttp lets
through: a Transfer-Encoding other than one final ``chunked``, Transfer-Encoding in HTTP/1.0, a missing
or repeated Host, oversized heads and bodies. After any error the caller must close the connection:
nothing that follows is read as a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Protocol

import httptools

from frontdoor.http.errors import ProtocolError
from frontdoor.http.fields import HANDLED, OWN_PREFIX, lowered
from frontdoor.memo import Memo

_NO_TOKENS: Final[frozenset[bytes]] = frozenset()
# The fields of the head being read: all of them as received, the ready-made lines of those a proxy
# copies as they are, and (lowered name, name, value) of the others (see RequestHead.plain/special).
_Fields = tuple[list[tuple[bytes, bytes]], list[bytes], list[tuple[bytes, bytes, bytes]]]


class RequestHead:
    """A request's head as read and checked; built for every request, so a plain slotted class with
    every field passed in (a dataclass's default factories cost more than the rest of it)."""

    __slots__ = (
        "chunked",
        "connection_tokens",
        "content_length",
        "expect_continue",
        "headers",
        "host",
        "keep_alive",
        "method",
        "plain",
        "special",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,  # origin-form path and query as received (absolute-form is rewritten to origin-form)
        version: str,  # "1.1" or "1.0"
        headers: list[tuple[bytes, bytes]],
        host: str,
        content_length: int | None,
        chunked: bool,
        keep_alive: bool,
        expect_continue: bool = False,
        upgrade: str | None = None,  # "websocket" when the client asks for one; others are dropped
        connection_tokens: frozenset[bytes] = _NO_TOKENS,
        plain: list[bytes] | None = None,
        special: list[tuple[bytes, bytes, bytes]] | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.host = host
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade
        self.connection_tokens = connection_tokens
        #: ready-made lines of the fields a proxy copies as they are, and (lowered name, name, value) of
        #: the others (http/fields.py HANDLED, and the gateway's own prefix): the reader sorts them as it
        #: reads, so forwarding does not loop over the fields a second time. None: not sorted yet.
        self.plain = plain
        self.special: list[tuple[bytes, bytes, bytes]] = special if special is not None else []

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


class RequestSink(Protocol):
    """What the connection does with a request as it is read."""

    def on_request_head(self, head: RequestHead) -> None: ...

    def on_request_body(self, chunk: bytes) -> None: ...

    def on_request_end(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_body: int = 1024 * 1024


_FRAMING_FIELDS: Final = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}
)
_HOST: Final = re.compile(rb"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:\d{0,5})?$")


# A gateway sees a few distinct Host values: the regex runs once for each, and each request gets the
# same str object for the same Host (a bounded memo), whose hash the later lookups by host (the route
# match, the access log's JSON strings) find already computed.
_HOSTS_SEEN: Final[Memo[bytes, str]] = Memo(1024)


def host_text(host: bytes) -> str | None:
    """``host`` (a Host header's value, stripped) as text, or None if it is not a valid host."""
    text = _HOSTS_SEEN.get(host)
    if text is None:
        if _HOST.match(host) is None:
            return None  # not kept: a request with it is refused anyway
        text = _HOSTS_SEEN.keep(host, host.decode("ascii"))
    return text


def _valid_host(host: bytes) -> bool:
    return host_text(host) is not None


# the methods llhttp reads, as the str a request carries: one shared object each, not a decode per request
_METHOD_NAMES: Final[dict[bytes, str]] = {
    name.encode("ascii"): name
    for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT")
}

_ABSOLUTE: Final = re.compile(r"^https?://([^/?#]*)([^#]*)$", re.IGNORECASE)


class RequestReader:
    """Feeds bytes to llhttp and reports each request to ``sink``; raises ProtocolError on bad input."""

    __slots__ = (
        "_body_bytes",
        "_fields",
        "_head_bytes",
        "_in_head",
        "_parser",
        "_size",
        "_trailer_room",
        "_tunnel",
        "_url",
        "limits",
        "sink",
    )

    def __init__(self, sink: RequestSink, limits: Limits) -> None:
        self.sink = sink
        self.limits = limits
        self._parser = httptools.HttpRequestParser(self)
        # None outside a head: once handed to the RequestHead the lists are the head's, and an idle
        # keep-alive connection holds nothing of its last request (nor a list shared with others)
        self._fields: _Fields | None = None
        self._trailer_room = 0  # how many more fields (trailers) max_headers allows
        self._size = 0
        self._url = b""
        self._head_bytes = 0
        self._body_bytes = 0
        self._in_head = True
        self._tunnel = False

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``. Returns None, or, once the sink accepted an upgrade, the bytes that follow
        the head: from then on the connection is a tunnel and nothing more is parsed."""
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            return self._on_upgrade(data[int(upgrade.args[0]) :])
        except httptools.HttpParserInvalidMethodError:
            raise ProtocolError(400, "the request method is not valid") from None
        except httptools.HttpParserInvalidURLError:
            raise ProtocolError(400, "the request target is not valid") from None
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, ProtocolError):
                raise cause from None
            if "HTTP version" in str(exc):
                raise ProtocolError(505, "only HTTP/1.1 and HTTP/1.0 are served here") from None
            raise ProtocolError(400, f"malformed request: {exc}") from None
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            if self._fields is None or not self._fields[0]:
                raise ProtocolError(414, "the request target is too long")
            raise ProtocolError(431, "the request head is larger than max_header_bytes")
        return None

    def _on_upgrade(self, rest: bytes) -> bytes | None:
        # llhttp stops after the head of a request that asks to upgrade. Only an accepted WebSocket
        # becomes a tunnel; any other upgrade (h2c) was passed on as a plain request without a body
        # (see _build_head), so parsing simply goes on with a fresh parser.
        if self._tunnel:
            return rest
        self._parser = httptools.HttpRequestParser(self)
        self._in_head = True
        self._head_bytes = 0
        return self.feed(rest) if rest else None

    # --- llhttp callbacks ----------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._fields = ([], [], [])
        self._size = 0
        self._url = b""
        self._in_head = True
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.limits.max_header_bytes:
            raise ProtocolError(414, "the request target is too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        fields = self._fields
        if fields is None:
            self._on_trailer()
            return
        headers, plain, special = fields
        headers.append((name, value))
        # Names are lowered once, here, and sorted for forwarding (headers.py): most fields are copied
        # upstream as they are, so their line is made now.
        lower = lowered(name)
        self._size += len(name) + len(value) + 4
        if lower in HANDLED or lower.startswith(OWN_PREFIX):
            special.append((lower, name, value))
        else:
            plain.append(b"%b: %b\r\n" % (name, value))  # compiled, cheaper than three concatenations
        if len(headers) > self.limits.max_headers:
            raise ProtocolError(431, "the request has too many header fields")

    def _on_trailer(self) -> None:
        """A field after the body (a chunked request's trailer section): dropped, as the gateway
        forwards no trailers, and never added to the head's fields, which may not have gone upstream yet
        (a pipelined request); counted against max_headers with the head's."""
        self._trailer_room -= 1
        if self._trailer_room < 0:
            raise ProtocolError(431, "the request has too many header fields")

    def on_headers_complete(self) -> None:
        self._in_head = False
        fields = self._fields
        assert fields is not None  # llhttp reports the head's end only after its beginning
        self._fields = None  # the head owns them now: what llhttp reports next is a trailer
        self._trailer_room = self.limits.max_headers - len(fields[0])
        head = self._build_head(fields)
        self._head_bytes = 0
        self.sink.on_request_head(head)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body:
            raise ProtocolError(413, "the request body is larger than max_request_body")
        self.sink.on_request_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._url = b""  # an idle keep-alive connection holds nothing of its last request
        self.sink.on_request_end()

    # --- validation of a complete head ---------------------------------------------------------------

    def _build_head(self, fields: _Fields) -> RequestHead:
        parser = self._parser
        raw_method = parser.get_method()
        method = _METHOD_NAMES.get(raw_method) or raw_method.decode("ascii")
        if len(self._url) + self._size > self.limits.max_header_bytes:
            raise ProtocolError(431, "the request head is larger than max_header_bytes")

        hosts: list[bytes] = []
        lengths: list[bytes] = []
        transfer_encodings: list[bytes] = []
        connection: set[bytes] = set()
        expect = upgrade = None
        headers, plain, special = fields
        for lower, _, value in special:
            if lower not in _FRAMING_FIELDS:
                continue
            if lower == b"host":
                hosts.append(value)
            elif lower == b"content-length":
                lengths.append(value)
            elif lower == b"transfer-encoding":
                transfer_encodings.append(value)
            elif lower == b"connection":
                connection.update(t.strip().lower() for t in value.split(b","))
            elif lower == b"expect":
                expect = value.strip().lower()
            else:
                upgrade = value.strip().lower()
        content_length = int(lengths[0]) if lengths else None  # llhttp allows exactly one, all digits

        # llhttp keeps a connection alive without a "keep-alive" token only in HTTP/1.1 (0.9, 1.0 and 2.0,
        # the other versions it reads, need the token): then the version is known without asking for it
        # (httptools formats a new string each time, a dear call for every request).
        if b"keep-alive" not in connection and parser.should_keep_alive():
            version = "1.1"
        else:
            version = parser.get_http_version()
            if version not in ("1.1", "1.0"):
                raise ProtocolError(505, "only HTTP/1.1 and HTTP/1.0 are served here")

        chunked = False
        if transfer_encodings:
            # RFC 9112 6.1: a TE in HTTP/1.0 is faulty framing; we forward only a single "chunked",
            # so every other coding (and every list of codings) is refused rather than reinterpreted.
            if version == "1.0":
                raise ProtocolError(400, "Transfer-Encoding is not allowed in HTTP/1.0")
            if len(transfer_encodings) != 1 or transfer_encodings[0].strip().lower() != b"chunked":
                raise ProtocolError(400, "only Transfer-Encoding: chunked is accepted")
            chunked = True
        if content_length is not None and content_length > self.limits.max_body:
            raise ProtocolError(413, "the request body is larger than max_request_body")

        target = self._url.decode("latin-1")
        host_from_target: str | None = None
        if not target.startswith("/"):
            absolute = _ABSOLUTE.match(target)
            if method == "CONNECT":
                raise ProtocolError(405, "CONNECT is not served by this gateway")
            if absolute is None:
                raise ProtocolError(400, "the request target must be an absolute path")
            # RFC 9112 3.2.2: with an absolute-form target the Host header is replaced by its authority
            host_from_target = absolute.group(1)
            target = absolute.group(2) or "/"
            if not target.startswith("/"):
                target = "/" + target

        if len(hosts) > 1:
            raise ProtocolError(400, "the request has more than one Host header")
        if not hosts and version == "1.1" and host_from_target is None:
            raise ProtocolError(400, "an HTTP/1.1 request needs a Host header")  # RFC 9112 3.2
        host_bytes = hosts[0].strip() if hosts else b""
        host_header = host_text(host_bytes)
        if host_header is None:
            raise ProtocolError(400, "the Host header is not a valid host")
        host = host_from_target if host_from_target is not None else host_header
        if host_from_target is not None:
            # RFC 9112 3.2.2: the target's authority replaces the Host header, for routing and upstream
            authority = host_from_target.encode("latin-1")
            headers = [(n, v) for n, v in headers if n.lower() != b"host"] + [(b"Host", authority)]
            special = [field for field in special if field[0] != b"host"] + [(b"host", b"Host", authority)]

        wants_upgrade = upgrade is not None and b"upgrade" in connection
        if wants_upgrade and (chunked or content_length):
            # llhttp would read the body as the start of the tunnel, or as a next request: refuse.
            raise ProtocolError(400, "a request asking to upgrade cannot carry a body")

        expect_continue = False
        if expect is not None:
            if expect != b"100-continue":
                raise ProtocolError(417, "only Expect: 100-continue is understood")
            expect_continue = version == "1.1"

        return RequestHead(  # positionally: the order of the fields
            method,
            target,
            version,
            headers,
            host,
            content_length,
            chunked,
            # RFC 9112 9.3: persistent by default in 1.1 unless "close"; in 1.0 only with "keep-alive"
            b"close" not in connection if version == "1.1" else b"keep-alive" in connection,
            expect_continue,
            "websocket" if wants_upgrade and upgrade == b"websocket" else None,
            frozenset(connection) if connection else _NO_TOKENS,
            plain,
            special,
        )

    def accept_upgrade(self) -> None:
        """The sink tunnels this request (called from on_request_head): what follows is not HTTP."""
        self._tunnel = True
