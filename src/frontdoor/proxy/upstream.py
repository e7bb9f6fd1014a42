"""Connections to upstream endpoints: one asyncio protocol per connection, and a keep-alive pool each."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Callable, Sequence
from typing import Final, Protocol, cast

from frontdoor.http.errors import ProtocolError
from frontdoor.http.response import BodyMode, ResponseReader, ResponseSink
from frontdoor.policy.balancing import Endpoint
from frontdoor.proxy.failures import Failure, Lost
from frontdoor.proxy.upstreamtls import system_context

MAX_IDLE_PER_ENDPOINT: Final = 64
_NO_LINGER: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: a close sends a reset


def reset_on_close(transport: asyncio.BaseTransport) -> None:
    """Make the transport's close a reset: for a peer that stopped reading, whose unsent bytes the
    kernel would otherwise go on offering it for minutes after the gateway gave up on it."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
        except OSError:
            return  # already closed


class UpstreamSink(ResponseSink, Protocol):
    """What an upstream connection reports to: the downstream side of one request (proxy/exchange.py
    Exchange), the response as it is read, and what happens to the connection it comes on."""

    def on_upstream_lost(self, lost: Lost) -> None: ...

    def on_upstream_tunnel(self, data: bytes) -> None: ...

    def flush(self) -> None: ...

    def pause_upstream_writes(self) -> None: ...

    def resume_upstream_writes(self) -> None: ...


class _Detached:
    """The response sink of a connection that serves no exchange."""

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


DETACHED: Final = _Detached()


class UpstreamConnection(asyncio.Protocol):
    """One connection to an endpoint, serving one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        # The exchange in progress reads the response directly (see begin): no forwarding layer here.
        self.reader = ResponseReader(DETACHED)
        self.exchange: UpstreamSink | None = None
        self.got_response_bytes = False
        self.tunnel = False
        self.closed = False
        self.used = False  # served a request before: a failure on it may be a stale keep-alive
        self.paused = False  # reading paused because the client's side was full
        self.write_paused = False  # the write buffer is full: the upstream is not taking the request
        # while write_paused: the write buffer's size at the last look, plus what was written since (the
        # exchange adds it), so that a look at the buffer tells whether the upstream took any of it
        self.backlog = 0
        self.lost_with: Exception | None = None  # why it closed, when it closed with an error

    # --- driven by the exchange ----------------------------------------------------------------------

    def begin(self, exchange: UpstreamSink, method: str) -> None:
        self.exchange = exchange
        self.reader.sink = exchange
        self.got_response_bytes = False
        self.reader.expect(method)

    def detach(self) -> None:
        """No exchange any more: whatever the reader still reports goes nowhere."""
        self.exchange = None
        self.reader.sink = DETACHED

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def abort(self) -> None:
        """Drop the connection: the exchange cannot finish cleanly on it."""
        self.detach()
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def took_some(self) -> bool:
        """Whether the upstream took any of the request since the last look (the send timeout asks,
        when it expires): no system call, only the transport's count of bytes it still holds."""
        held = self.transport.get_write_buffer_size() if self.transport is not None else 0
        took = held < self.backlog
        self.backlog = held
        return took

    def reset(self) -> None:
        """Drop the connection with a reset: the upstream stopped reading (the send timeout)."""
        if self.transport is not None:
            reset_on_close(self.transport)
        self.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    # --- asyncio callbacks ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.tunnel:
            if self.exchange is not None:
                self.exchange.on_upstream_tunnel(data)
            return
        self.got_response_bytes = True
        try:
            rest = self.reader.feed(data)
        except ProtocolError:
            exchange = self.exchange
            self.abort()
            if exchange is not None:
                exchange.on_upstream_lost(Lost.BAD_RESPONSE)
            return
        exchange = self.exchange
        if exchange is not None:
            exchange.flush()
            if rest is not None:
                self.tunnel = True
                if rest:
                    exchange.on_upstream_tunnel(rest)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost_with = exc
        self.pool.forget(self)
        exchange = self.exchange
        if exchange is None:
            return
        if self.tunnel:
            self.detach()
            exchange.on_upstream_lost(Lost.TUNNEL_ENDED)
        elif self.reader.eof():
            return  # a close-delimited body ended (on_response_end has been called)
        else:
            self.detach()
            exchange.on_upstream_lost(Lost.CLOSED if exc is None else Lost.RESET)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.transport is not None:
            self.backlog = self.transport.get_write_buffer_size()
        if self.exchange is not None:
            self.exchange.pause_upstream_writes()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.exchange is not None:
            self.exchange.resume_upstream_writes()


# a connection, or None and why not
ConnectCallback = Callable[[UpstreamConnection | None, Failure | None], None]


class Pool:
    """Idle keep-alive connections to one endpoint, and new ones made with a connect timeout."""

    def __init__(
        self,
        endpoint: Endpoint,
        connect_timeout: float,
        loop: asyncio.AbstractEventLoop,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.loop = loop
        # https: the upstream's context (proxy/upstreamtls.py), and the name sent and verified
        self.tls = tls if tls is not None or endpoint.scheme != "https" else system_context()
        self.server_name = server_name or endpoint.host
        self.idle: list[UpstreamConnection] = []
        self.closed = False

    def acquire(self, callback: ConnectCallback, fresh: bool = False) -> None:
        """Calls ``callback(connection, None)`` when one is ready, or ``callback(None, failure)``;
        ``fresh`` skips the idle connections (after one turned out to be stale)."""
        if not fresh:
            connection = self.take_idle()
            if connection is not None:
                callback(connection, None)
                return
        task = self.loop.create_task(self._connect())
        task.add_done_callback(lambda done: self._connected(done, callback))

    def take_idle(self) -> UpstreamConnection | None:
        """The most recently released open idle connection, or None."""
        idle = self.idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self) -> UpstreamConnection:
        endpoint = self.endpoint
        tls = self.tls
        # the handshake is inside the connect timeout too: a peer that accepts and never answers the
        # ClientHello fails the attempt in time, never holds the request
        _, protocol = await asyncio.wait_for(
            self.loop.create_connection(
                lambda: UpstreamConnection(self),
                endpoint.host,
                endpoint.port,
                ssl=tls,
                server_hostname=self.server_name if tls else None,
                ssl_handshake_timeout=self.connect_timeout if tls else None,
            ),
            self.connect_timeout,
        )
        return protocol

    def _connected(self, done: asyncio.Task[UpstreamConnection], callback: ConnectCallback) -> None:
        if done.cancelled():
            callback(None, Failure.CONNECT_CANCELLED)
            return
        error = done.exception()
        if error is None:
            connection = done.result()
            if not connection.closed:
                callback(connection, None)
                return
            # lost between the handshake and this callback: with TLS 1.3 an upstream that refuses our
            # certificate (or lack of one) says so only after our side of the handshake has completed.
            # A request begun on it would wait for an answer that can never come (a 504 after the
            # upstream timeout, where the truth is a failed connection)
            error = connection.lost_with or ConnectionError("closed at once")
        if isinstance(error, TimeoutError):
            callback(None, Failure.CONNECT_TIMEOUT)
        elif isinstance(error, ssl.SSLError):  # the certificate did not verify, or the handshake failed
            callback(None, Failure.UPSTREAM_TLS)
        else:
            callback(None, Failure.CONNECT_FAILED)

    def release(self, connection: UpstreamConnection) -> None:
        connection.detach()
        connection.used = True
        if connection.paused:
            # paused by the client of the response it just completed (its socket filled while the last
            # bytes were written): the resume would go to that client's next exchange, not to this
            # connection, whose next response would then never be read
            connection.resume_reading()
        # write_paused: the upstream answered before taking all of the request; the next exchange on it
        # would never hear pause_writing (it was already heard), so its send timeout could not start
        closing = connection.closed or connection.write_paused or self.closed
        if closing or len(self.idle) >= MAX_IDLE_PER_ENDPOINT:
            connection.abort()
            return
        self.idle.append(connection)

    def forget(self, connection: UpstreamConnection) -> None:
        if connection in self.idle:
            self.idle.remove(connection)

    def close(self) -> None:
        self.closed = True  # a reload retired this pool: connections coming back are closed
        for connection in self.idle:
            connection.abort()
        self.idle.clear()
