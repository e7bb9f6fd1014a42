"""One HTTP/2 stream, as the transport of an ordinary client connection (proxy/downstream.py).

The gateway keeps one request pipeline: each stream gets its own Downstream, which reads the request
from http/h2head.py's RequestHead and answers it exactly as it answers an HTTP/1.1 request (router,
stages, header hygiene, identity headers, limits, access log, metrics). What the Downstream writes is an
HTTP/1.1 response whose end is the close of its "connection" (the head's version is "2": no chunked
framing); this bridge turns it back into HEADERS and DATA frames on the stream.

Flow control both ways, never a buffer without bound:
- request bodies: the stream's receive window is given back to the client only as the Downstream
  consumes the data (never while it has paused reading: a slow upstream or a pending decision), so the
  client can never send more than one window ahead of the upstream;
- responses: DATA is sent as the client's windows allow; what waits beyond HIGH_WATER pauses the
  Downstream's writing, which pauses the upstream's reading, as a full socket buffer would. What still
  waits once the Downstream is done (the response complete upstream) is timed by proxy/h2wait.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from h2.errors import ErrorCodes

from frontdoor.http.fields import Field
from frontdoor.http.h2head import response_fields

if TYPE_CHECKING:
    from frontdoor.proxy.downstream import Downstream
    from frontdoor.proxy.h2connection import ClientH2

#: response bytes waiting for the client's window above which the upstream is paused (and below which,
#: once drained, resumed)
HIGH_WATER: Final = 64 * 1024


class StreamBridge:
    """The transport of one stream's Downstream; the connection (ClientH2) feeds it the stream's events."""

    __slots__ = (
        "closing",
        "connection",
        "downstream",
        "ended",
        "fields",
        "gone",
        "head",
        "head_done",
        "held",
        "paused",
        "pending",
        "received",
        "service",
        "stream_id",
        "timed",
        "unacked",
        "waiting",
        "writing_paused",
    )

    def __init__(self, connection: ClientH2, stream_id: int) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.downstream: Downstream | None = None
        self.head = b""  # the response head being written, until its empty line
        self.head_done = False  # the head was read (``fields`` holds it until it is sent)
        self.fields: list[Field] | None = None
        self.pending: list[bytes] = []  # response bytes waiting to be sent (the client's windows)
        self.waiting = 0  # their size
        self.paused = False  # the Downstream paused reading: the request body's window is held back
        self.writing_paused = False  # the Downstream was told to pause writing (the upstream is paused)
        self.held = 0  # request body bytes received while paused, not given back to the client yet
        self.unacked = 0  # request body bytes consumed and not given back yet (given back in batches)
        self.received = 0  # request body bytes, for max_request_body
        self.ended = False  # the client ended its side of the stream
        self.closing = False  # the Downstream closed: end the stream once ``pending`` is sent
        self.gone = False  # the stream is over for the Downstream (connection_lost was called)
        self.service = ""  # the service that answered it, for a stall after the Downstream is done
        self.timed = False  # answered, its data waiting for the client's windows (proxy/h2wait.py)

    # --- the transport interface the Downstream uses ----------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.connection.extra(name, default)

    def write(self, data: bytes) -> None:
        # Nothing is sent from here: the connection sends each turn of the loop what its streams wrote
        # (``pump``), so that a response read in one upstream read (head, body, end) leaves as one
        # HEADERS and one DATA frame carrying END_STREAM, in one write to the socket.
        if self.closing or self.gone:
            return
        if not self.head_done:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            data = self.head[end + 4 :]
            status, fields = response_fields(self.head[:end])
            self.head = b""
            if 100 <= status < 200:  # an interim response: never written for a "2" head, ignored
                self.write(data)
                return
            self.head_done = True
            self.fields = fields
            downstream = self.downstream
            if downstream is not None:
                exchange = downstream.current
                if exchange is not None and exchange.route is not None:
                    self.service = exchange.route.service
        if data:
            self.pending.append(data)
            self.waiting += len(data)
            if self.waiting > HIGH_WATER and not self.writing_paused and self.downstream is not None:
                self.writing_paused = True
                self.downstream.pause_writing()
        self.connection.wake(self)

    def pump(self) -> None:
        """Send the head, and what the client's windows allow of the body; end the stream with the last
        of it once the Downstream closed."""
        if self.gone:
            return
        connection = self.connection
        fields = self.fields
        if fields is not None:
            self.fields = None
            ends = self.closing and not self.pending
            connection.send_headers(self.stream_id, fields, ends)
            if ends:
                self._finished()
                return
        if self.pending:
            waited = self.waiting
            self.pending, ended = connection.send_data(self.stream_id, self.pending, self.closing)
            self.waiting = sum(map(len, self.pending))
            if self.writing_paused and self.waiting <= HIGH_WATER:
                self.writing_paused = False
                if self.downstream is not None:
                    self.downstream.resume_writing()
            if ended:
                self._finished()
                return
            if self.closing and self.pending and (self.waiting < waited or not self.timed):
                # answered, the rest waiting for the client's windows: no Downstream times it any more
                self.timed = True
                connection.wait_for_window(self)
        if self.closing and not self.pending:
            if not self.head_done:  # no response at all (the Downstream always answers): refuse
                connection.reset(self.stream_id, ErrorCodes.INTERNAL_ERROR)
            else:
                connection.end_stream(self.stream_id)
            self._finished()

    def _finished(self) -> None:
        self.closing = False
        self.gone = True
        self.connection.answered(self)

    def get_write_buffer_size(self) -> int:
        """What the stream holds for the client (the Downstream's stall timeout looks at it): its
        response bytes waiting for a window, and, while the socket itself is full, the socket's buffer
        too, which shrinks as the client reads (no stream's bytes move until it does)."""
        return self.waiting + self.connection.unsent()

    def is_closing(self) -> bool:
        return self.closing or self.gone

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:  # never called: can_write_eof says no
        self.close()

    def close(self) -> None:
        """The Downstream is done: the response is complete."""
        if self.closing or self.gone:
            return
        self.closing = True
        if not self.ended:
            self.connection.discard(self.stream_id, self.unacked + self.held)
            self.unacked = self.held = 0
        self.connection.wake(self)
        self._lost()

    def abort(self) -> None:
        """The response cannot be completed (the upstream broke off, or the gateway is stopping)."""
        if self.gone:
            return
        self.gone = True
        self.closing = False
        self.pending = []
        self.waiting = 0
        self.connection.reset(self.stream_id, ErrorCodes.INTERNAL_ERROR)
        self.connection.forget(self)
        self._lost()

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        if self.paused:
            self.paused = False
            self.unacked += self.held
            self.held = 0
            self._give_back()

    def is_reading(self) -> bool:
        return not self.paused

    # --- what the connection reports ----------------------------------------------------------------

    def consumed(self, size: int) -> None:
        """``size`` bytes of the request body's window were used (data, padding)."""
        if self.paused:
            self.held += size
        else:
            self.unacked += size
            self._give_back()

    def _give_back(self) -> None:
        if not self.ended and self.unacked >= self.connection.stream_window // 2:
            self.connection.open_window(self.stream_id, self.unacked)
            self.unacked = 0

    def reset_by_client(self) -> None:
        """The client reset the stream, or the connection ended: the request is abandoned."""
        self.pending = []
        self.closing = False
        self.connection.forget(self)
        if not self.gone:
            self.gone = True
            self._lost()

    def _lost(self) -> None:
        downstream = self.downstream
        self.downstream = None
        if downstream is not None:
            # as a transport does: the protocol hears of the end from the loop, not from inside its call
            self.connection.loop.call_soon(downstream.connection_lost, None)
