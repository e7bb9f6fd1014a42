"""The timer of a client connection (proxy/downstream.py): which of its timeouts runs (states.Timeout,
one at a time on the one Deadline of deadline.py), what arms and stops each, and what happens when one
passes. The sending timeouts (a client or an upstream that stops reading) are armed by the transports'
pause_writing and stopped by resume_writing, never by a write.

A base class of Downstream rather than a part of it only to keep each module to one concern; it reads
the connection's state, which Downstream owns and sets.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from frontdoor.deadline import Deadline
from frontdoor.http.errors import ProtocolError
from frontdoor.protection.counters import CLIENT_STALLED, count
from frontdoor.proxy.failures import Failure
from frontdoor.proxy.states import (
    BODY_TIMEOUT,
    DONE,
    HEAD_TIMEOUT,
    IDLE_TIMEOUT,
    NO_TIMEOUT,
    SEND_TIMEOUT,
    SENDING,
    STALL_TIMEOUT,
    TUNNEL,
    UPSTREAM_TIMEOUT,
    Timeout,
)
from frontdoor.proxy.upstream import reset_on_close

if TYPE_CHECKING:
    from frontdoor.http.h1 import RequestReader
    from frontdoor.proxy.exchange import Exchange
    from frontdoor.proxy.server import Gateway


class ClockedConnection(asyncio.Protocol):
    """The timeouts of a client connection; Downstream sets every attribute named here."""

    __slots__ = ("deadline_kind", "timer", "unsent", "write_paused")

    gateway: Gateway
    transport: asyncio.Transport | None
    reader: RequestReader | None  # None on an HTTP/2 stream (Downstream.stream_made)
    current: Exchange | None
    reading: Exchange | None
    paused: frozenset[str]
    closed: bool
    timer: Deadline
    deadline_kind: Timeout
    write_paused: bool  # the transport's write buffer is full: the client is not reading
    unsent: int  # while write_paused: the buffer's size at the last look (the stall timeout's measure)

    def _protocol_error(self, error: ProtocolError) -> None:
        raise NotImplementedError

    def close(self, linger: bool = False) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    # --- the timer -----------------------------------------------------------------------------------

    def _arm(self, kind: Timeout, timeout: float, step: float) -> None:
        """Run the ``kind`` timeout for ``timeout`` seconds (``step``: the shortest timeout in use).
        While the client is not reading (``write_paused``), its stall timeout stays in charge."""
        if self.write_paused and kind is not STALL_TIMEOUT:
            return
        self.deadline_kind = kind
        self.timer.arm(timeout, step)

    def _on_timer(self) -> None:
        kind = self.deadline_kind
        self.deadline_kind = NO_TIMEOUT
        if kind is HEAD_TIMEOUT:
            if self.current is None and not self.closed:
                self._protocol_error(ProtocolError(408, "the request head did not arrive in time"))
        elif kind is IDLE_TIMEOUT:
            self.close()
        elif kind is BODY_TIMEOUT:
            reading = self.reading
            if reading is not None and reading is self.current and not reading.ended:
                # 408 and close, the upstream attempt abandoned; once a response began, the connection
                # (HTTP/2: the stream) is cut off
                self._protocol_error(ProtocolError(408, "the request body did not arrive in time"))
        elif kind is STALL_TIMEOUT:
            self._client_stalled()
        elif self.current is None:
            return
        elif kind is SEND_TIMEOUT:
            self.current.send_timeout()
        else:
            self.current.upstream_timeout()

    def _arm_header_timer(self) -> None:
        runtime = self.gateway.runtime
        self._arm(HEAD_TIMEOUT, runtime.header_timeout, runtime.timer_step)

    def _arm_body_timer(self) -> None:
        """The body timeout, while the current request's body is being read: reading it is not paused,
        and it has not ended. Each part read arms it again (``on_request_body``)."""
        reading = self.reading
        if (
            reading is not None
            and reading is self.current
            and not reading.ended
            and not self.paused
            and reading.head.has_body
        ):
            runtime = reading.runtime
            self._arm(BODY_TIMEOUT, runtime.body_timeout, runtime.timer_step)

    def _watch_client(self) -> None:
        """The stall timeout (timeouts.idle, nginx's send_timeout): the client must take some of what
        the gateway holds for it within that time. Armed by pause_writing, not by each write."""
        transport = self.transport
        if transport is not None:
            self.unsent = transport.get_write_buffer_size()
            if self.current is not None:
                self.current.upstream_armed = False  # replaced: armed again once the client reads
            runtime = self.gateway.runtime
            self._arm(STALL_TIMEOUT, runtime.idle_timeout, runtime.timer_step)

    def _client_stalled(self) -> None:
        """The stall timeout passed. A client that took some meanwhile is watched on; one that took
        nothing is cut off (HTTP/2: its stream reset), its upstream connection dropped, not pooled."""
        transport = self.transport
        if transport is None:
            return
        unsent = transport.get_write_buffer_size()
        if unsent < self.unsent:
            self._watch_client()
            return
        current = self.current
        service = ""
        if current is not None and current.state is not DONE:
            current.failure = Failure.CLIENT_STALLED  # logged by connection_lost, after the abort
            if current.route is not None:
                service = current.route.service
        count(CLIENT_STALLED, service)
        if self.reader is not None:  # a socket of its own (an HTTP/2 stream is reset, its connection goes on)
            reset_on_close(transport)
        self.abort()

    def _stop_timer(self) -> None:
        self.deadline_kind = NO_TIMEOUT
        self.timer.disarm()

    def _arm_idle_timer(self) -> None:
        if self.write_paused:
            self._watch_client()  # not idle: the client has yet to take the last response
            return
        runtime = self.gateway.runtime
        self._arm(IDLE_TIMEOUT, runtime.idle_timeout, runtime.timer_step)

    def arm_upstream_timer(self, exchange: Exchange) -> None:
        """The upstream timeout: for the response head (from the request's end), or, when the response
        began before the request's body ended, for the next read of the response body."""
        if (
            exchange.state is not TUNNEL
            and not exchange.upstream_armed
            and not self.write_paused
            and self.deadline_kind is not SEND_TIMEOUT  # the upstream has yet to take the request
        ):
            exchange.upstream_armed = True
            runtime = exchange.runtime
            self._arm(UPSTREAM_TIMEOUT, runtime.upstream_timeout, runtime.timer_step)

    def arm_send_timer(self, exchange: Exchange) -> None:
        """The send timeout (timeouts.upstream) while the upstream's write buffer is full: armed by its
        pause_writing, stopped by its resume_writing (Exchange), never by a write."""
        if exchange.state in SENDING:
            exchange.upstream_armed = False  # replaced: armed again once the upstream took the request
            runtime = exchange.runtime
            self._arm(SEND_TIMEOUT, runtime.upstream_timeout, runtime.timer_step)

    def stop_send_timer(self) -> None:
        if self.deadline_kind is SEND_TIMEOUT:
            self._stop_timer()

    def upstream_read(self, exchange: Exchange) -> None:
        """A read of the response body: the upstream timeout starts again (no system call: deadline.py)."""
        runtime = exchange.runtime
        self.timer.arm(runtime.upstream_timeout, runtime.timer_step)

    def cancel_upstream_timer(self, exchange: Exchange) -> None:
        if exchange.upstream_armed:
            exchange.upstream_armed = False
            if self.deadline_kind is UPSTREAM_TIMEOUT:
                self.deadline_kind = NO_TIMEOUT
                self.timer.disarm()

    def _cancel_timers(self) -> None:
        self.deadline_kind = NO_TIMEOUT
        if self.current is not None:
            self.current.upstream_armed = False
        self.timer.cancel()
