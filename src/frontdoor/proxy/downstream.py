"""A client connection: the bytes in and out, pipelining, keep-alive, and the connection's timeouts.

Each request head read becomes an Exchange (proxy/exchange.py), which routes it, runs the stages, gets
it answered upstream and tells the connection when it is over (``finish``): the connection then starts
the next pipelined one, or waits for one (keep-alive), or closes. Everything runs in protocol callbacks,
with no task per request. Backpressure is passed through both ways by pausing the reading side whenever
the writing side's buffer is full.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Final, cast

from frontdoor.access.tokens import SeenToken
from frontdoor.deadline import Deadline
from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import RequestHead, RequestReader
from frontdoor.http.messages import error_response
from frontdoor.http.tracing import new_request_id
from frontdoor.memo import Memo
from frontdoor.policy.clientcert import CertificateUnreadable, ClientCertificate, from_der
from frontdoor.proxy.clock import ClockedConnection
from frontdoor.proxy.exchange import Exchange
from frontdoor.proxy.runtime import Listener, Runtime
from frontdoor.proxy.states import (
    ANSWERING,
    BODY_TIMEOUT,
    CLIENT_CLOSED,
    DONE,
    HEAD_TIMEOUT,
    NO_TIMEOUT,
    RESPONDING,
    STALL_TIMEOUT,
)

if TYPE_CHECKING:
    from frontdoor.proxy.server import Gateway

LINGER_S: Final = 2.0
_NOT_PAUSED: Final[frozenset[str]] = frozenset()


# verified client certificates (DER) already read: bounded, so that many clients cannot grow it
_CERTIFICATES: Final[Memo[bytes, ClientCertificate]] = Memo(1024)


def client_certificate(transport: asyncio.BaseTransport) -> ClientCertificate | None:
    """What the client's certificate says, once per connection. The handshake is over when the
    connection is made, so a certificate here chained to the entrypoint's client_auth CA."""
    tls = transport.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    if not der:
        return None  # client_auth optional, and the client sent none
    known = _CERTIFICATES.get(der)  # the same few clients reconnect (and HTTP/2 connections ask once)
    if known is not None:
        return known
    try:
        return _CERTIFICATES.keep(der, from_der(der))
    except CertificateUnreadable:
        return None  # OpenSSL verified what cryptography cannot read: no identity from it


class Downstream(ClockedConnection):
    # Slots, and no list for the (rare) pipelined requests until a client pipelines: ten thousand idle
    # keep-alive connections are ten thousand of these objects.
    __slots__ = (
        "certificate",
        "client_eof",
        "closed",
        "current",
        "failed",
        "gateway",
        "lingering",
        "listener",
        "listener_runtime",
        "loop",
        "out",
        "paused",
        "peer",
        "pending",
        "reader",
        "reading",
        "seen",
        "transport",
        "trusted",
        "tunnel",
    )

    def __init__(self, gateway: Gateway, listener: Listener) -> None:
        self.gateway = gateway
        self.listener = listener
        self.listener_runtime: Runtime | None = None  # the runtime ``listener`` was last looked up in
        self.loop = gateway.loop
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.trusted = False
        self.reader: RequestReader | None = None
        self.current: Exchange | None = None  # the exchange being answered
        self.reading: Exchange | None = None  # the exchange whose body is being read (pipelining)
        # pipelined exchanges waiting their turn: None until a client pipelines (rare), rather than an
        # empty list per connection (ten thousand idle connections would hold half a megabyte of them)
        self.pending: list[Exchange] | None = None
        # why reading is paused; a shared empty frozenset until it is (rare), rather than a set per
        # connection: ten thousand idle connections would hold two megabytes of empty sets
        self.paused: frozenset[str] = _NOT_PAUSED
        self.closed = False
        self.tunnel = False
        self.failed: ProtocolError | None = None
        self.client_eof = False
        self.lingering = False
        self.out: list[bytes] = []  # response bytes waiting for the end of the upstream's read
        self.seen = SeenToken()  # the last bearer token this client sent, for the access stage
        self.certificate: ClientCertificate | None = None  # the verified client certificate (mTLS)
        # One timer per connection (see Timeout), whose handle moves only when it must (deadline.py)
        self.timer = Deadline(self.loop, self._on_timer)
        self.deadline_kind = NO_TIMEOUT
        self.write_paused = False
        self.unsent = 0

    # --- connection lifecycle ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        # interned: ten thousand connections from a few addresses share a few strings (and the access
        # log's memo of their JSON finds them by identity)
        self.peer = sys.intern(peer[0]) if peer else ""
        self.trusted = self.listener.trusts(self.peer)
        if self.listener.client_certificates:
            self.certificate = client_certificate(transport)
        self.reader = RequestReader(self, self.gateway.runtime.limits)
        self.gateway.connections.add(self)
        self._arm_header_timer()

    def stream_made(
        self, transport: asyncio.Transport, peer: str, trusted: bool, certificate: ClientCertificate | None
    ) -> None:
        """``connection_made`` for an HTTP/2 stream (proxy/h2stream.py): its head arrives decoded right
        after, so no HTTP/1.1 reader (an llhttp parser never fed) and no head timer (armed to be disarmed);
        the client's address, trust and certificate are its connection's, found once per connection."""
        self.transport = transport
        self.peer = peer
        self.trusted = trusted
        self.certificate = certificate
        self.gateway.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gateway.connections.discard(self)
        self._cancel_timers()
        self.timer.release()
        current = self.current
        self.log_unfinished()
        for exchange in (current, *(self.pending or ())):
            if exchange is not None:
                exchange.drop_upstream()
        self.current = None
        self.pending = None

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the answer was sent; what the client still sends is dropped
        if self.tunnel:
            if self.current is not None and self.current.upstream is not None:
                self.current.bytes_in += len(data)
                self.current.upstream.write(data)
            return
        if self.current is None and self.deadline_kind is not HEAD_TIMEOUT:
            self._arm_header_timer()
        assert self.reader is not None
        try:
            rest = self.reader.feed(data)
        except ProtocolError as error:
            self._protocol_error(error)
            return
        if rest and self.current is not None and self.current.upstream is not None:
            self.current.bytes_in += len(rest)  # the first bytes for a WebSocket tunnel, after its head
            self.current.upstream.write(rest)

    def eof_received(self) -> bool | None:
        if self.current is None or self.tunnel or self.lingering:
            return None  # close: nothing is owed, or the tunnel ends with either side
        self.client_eof = True
        reading = self.reading
        if reading is not None and not reading.ended:
            # the rest of that body can never come: answered (or abandoned) now, not at a timeout
            self._protocol_error(
                ProtocolError(400, "the client closed its side before the request body ended")
            )
        return True  # a half-closed client still gets its responses; the connection closes after them

    def pause_writing(self) -> None:
        self.write_paused = True
        current = self.current
        if current is not None and current.upstream is not None:
            current.upstream.pause_reading()
            if current.state is RESPONDING:
                self.cancel_upstream_timer(current)  # the client is not reading: no upstream stall
        self._watch_client()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.deadline_kind is STALL_TIMEOUT:
            self._stop_timer()
        current = self.current
        if current is None:
            if not self.closed:
                self._arm_idle_timer()  # the last response is out: the connection is idle from here
            return
        upstream = current.upstream
        if upstream is not None:
            upstream.resume_reading()
            if upstream.write_paused:
                self.arm_send_timer(current)
            elif current.ended:
                self.arm_upstream_timer(current)
        self._arm_body_timer()

    def shutdown(self) -> None:
        """Graceful stop: close now if idle, otherwise after the response in flight."""
        if self.current is None:
            self.close()
        else:
            self.current.close_after = True

    # --- reading requests (RequestSink) --------------------------------------------------------------

    def on_request_head(self, head: RequestHead) -> None:
        if self.closed:
            # A request answered at once inside this same read closed the connection (Connection: close,
            # or its body left unread): what follows it in the read is never served.
            self.reading = None
            return
        if self.deadline_kind is HEAD_TIMEOUT:
            self.deadline_kind = NO_TIMEOUT
            self.timer.disarm()
        exchange = Exchange(self, head, self.gateway.runtime)
        self.reading = exchange
        if self.current is None:
            self.current = exchange
            if head.has_body:
                self._arm_body_timer()  # before the stages, which may pause reading (and so stop it)
            exchange.start()
        else:
            if self.pending is None:
                self.pending = []
            self.pending.append(exchange)
            self.pause("pipeline")

    def on_request_body(self, chunk: bytes) -> None:
        reading = self.reading
        if reading is not None:
            if self.deadline_kind is BODY_TIMEOUT:
                # the body timeout starts again: the handle in place stays (deadline.py), no system call
                runtime = reading.runtime
                self.timer.arm(runtime.body_timeout, runtime.timer_step)
            reading.on_body(chunk)

    def on_request_end(self) -> None:
        reading = self.reading
        if reading is not None:
            if self.deadline_kind is BODY_TIMEOUT:
                self._stop_timer()
            reading.on_end()
            if reading.state is DONE:
                # answered before its end was read (a 404, a denial: finish ran inside the head's
                # callback), so finish could not let go of it: an idle keep-alive connection keeps
                # nothing of its last request (found by make soak: 1.3 KiB per idle connection)
                self.reading = None

    # --- what exchanges ask of their connection -------------------------------------------------------

    def refresh_listener(self, runtime: Runtime) -> None:
        """The listener as ``runtime`` knows it: a reload changes routes for new requests."""
        self.listener = runtime.listeners.get(self.listener.address, self.listener)
        self.listener_runtime = runtime

    def accept_upgrade(self) -> None:
        if self.reader is not None:
            self.reader.accept_upgrade()

    def write(self, data: bytes) -> None:
        # once closed (our FIN may be sent: close(linger=True)), nothing more may be written
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def logged(self, exchange: Exchange) -> None:
        """The exchange is over: log it and let the stages that admitted it settle (in-flight counts)."""
        exchange.state = DONE
        self.gateway.log_request(self, exchange)
        if exchange.admission is not None:
            exchange.admission.finish(exchange.status)

    def finish(self, exchange: Exchange) -> None:
        """The exchange is answered: log it, then the next pipelined one, keep-alive, or close."""
        self.logged(exchange)
        self.current = None
        if self.reading is exchange and exchange.ended:
            self.reading = None  # an idle keep-alive connection keeps nothing of its last request
        if exchange.close_after or self.failed is not None or self.gateway.draining:
            failed = self.failed
            if failed is not None:
                self.write(error_response(failed.status, failed.reason, new_request_id(), close=True))
            self.close(linger=True)
            return
        pending = self.pending
        if pending:
            following = pending.pop(0)
            if self.client_eof:
                following.close_after = following.close_after or not pending
            self.current = following
            if not pending:
                self.resume("pipeline")  # its body, if any is still to come, is read from here on
            following.start()
            return
        if self.client_eof:
            self.close()
            return
        self._arm_idle_timer()

    def refuse(self, error: ProtocolError) -> None:
        """The request breaks a limit found outside the HTTP/1.1 reader (an HTTP/2 stream's head or
        body, proxy/h2connection.py): answered and logged as the reader's own errors are."""
        self._protocol_error(error)

    def _protocol_error(self, error: ProtocolError) -> None:
        if self.closed:
            # The connection was already closed, its FIN perhaps sent, by an answer given earlier in the
            # same read (e.g. a denial of a request whose body was left unread): that answer stands, and
            # the bytes after it, broken or not, are dropped.
            return
        current = self.current
        if current is not None and current is self.reading and not current.ended:
            # The body of the request being answered broke the rules (too large, bad chunk): its
            # upstream exchange is abandoned and the client hears why, unless a response already began.
            if current.state in ANSWERING:
                self.abort()
                return
            current.close_after = True
            current.reject(error.status, error.reason)
            return
        if current is not None:
            self.failed = error  # a later pipelined request: answered after the one in flight, then close
            self.pause("failed")
            return
        self.write(error_response(error.status, error.reason, new_request_id(), close=True))
        self.gateway.log_protocol_error(self, error)
        self.close(linger=True)

    def close(self, linger: bool = False) -> None:
        """Close the connection. With ``linger``, first send our FIN and keep reading (and dropping)
        what the client still sends, for up to LINGER_S: closing with unread input makes the kernel
        send a reset, which can destroy the response before the client has read it."""
        self._cancel_timers()
        if self.transport is None or self.closed:
            return
        self.closed = True
        if linger and self.transport.can_write_eof():
            self.lingering = True
            self.paused = _NOT_PAUSED
            self.transport.resume_reading()
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()
        if self.write_paused or self.transport.get_write_buffer_size():
            # the transport closes once its buffer is sent: a client that never reads would hold it
            self._watch_client()

    def log_unfinished(self) -> None:
        """The connection ends (or the drain cuts it) with an exchange not logged yet: log it, once."""
        current = self.current
        if current is not None and current.state is not DONE:  # logging makes it DONE
            if current.state not in ANSWERING:
                current.status = CLIENT_CLOSED  # nothing was answered
            self.logged(current)

    def abort(self) -> None:
        self._cancel_timers()
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    # --- flow control --------------------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        """Stop reading from the client for ``reason`` (pipeline, buffer, decision, upstream, failed).
        The body timeout stops too: a body not read is the gateway's wait, not the client's."""
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused = self.paused | {reason}
        if self.deadline_kind is BODY_TIMEOUT:
            self._stop_timer()

    def resume(self, reason: str) -> None:
        if reason in self.paused:
            self.paused = self.paused - {reason}
            if not self.paused and self.transport is not None and not self.closed:
                self.transport.resume_reading()
                self._arm_body_timer()
