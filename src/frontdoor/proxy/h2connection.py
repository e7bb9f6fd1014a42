"""HTTP/2 to clients on TLS entrypoints: the connection, with the h2 library as the protocol engine
(set up in proxy/h2engine.py). A TLS connection becomes one when its client chose h2 (proxy/alpn.py).

ClientH2 feeds the client's bytes to the h2 library and turns its events into the calls a Downstream
expects of one HTTP/1.1 connection, one Downstream per stream (proxy/h2stream.py). The library enforces
the frame rules, HPACK, the concurrent stream limit the gateway advertises and flow control; this module
adds the budgets of proxy/h2guard.py, the header limits of the Edge's protection, and the upstreams stay
HTTP/1.1. Everything runs in protocol callbacks, like the HTTP/1.1 path: no task per stream.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import DenialOfServiceError, FlowControlError, ProtocolError, StreamClosedError
from hyperframe.frame import GoAwayFrame

from frontdoor.deadline import Deadline
from frontdoor.http.errors import ProtocolError as HttpError
from frontdoor.http.fields import Field
from frontdoor.http.h2head import Malformed, request_head
from frontdoor.policy.clientcert import ClientCertificate
from frontdoor.protection.counters import count
from frontdoor.proxy.downstream import Downstream, client_certificate
from frontdoor.proxy.h2engine import CONNECTION_WINDOW, STREAM_WINDOW, server_engine, start
from frontdoor.proxy.h2guard import FloodGuard
from frontdoor.proxy.h2stream import StreamBridge
from frontdoor.proxy.h2wait import WindowWaits
from frontdoor.proxy.runtime import Listener

if TYPE_CHECKING:
    from frontdoor.proxy.server import Gateway

#: the metric of what HTTP/2 clients did (frontdoor_protection_events, service label "")
_EVENT_PREFIX: Final = "http2_"
# a connection whose idle timeout passed while a stream is still answered looks again this often
_BUSY_RECHECK_S: Final = 1.0


def _event(name: str) -> None:
    count(_EVENT_PREFIX + name, "")


class ClientH2(asyncio.Protocol):
    """One HTTP/2 client connection: its streams, its flow control, its budgets."""

    def __init__(self, gateway: Gateway, listener: Listener) -> None:
        self.gateway = gateway
        self.listener = listener
        self.loop = gateway.loop
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, StreamBridge] = {}
        self.discarding: dict[int, int] = {}  # answered streams whose request body is dropped: bytes so far
        self.guard = FloodGuard()
        self.stream_window = STREAM_WINDOW
        self.conn_unacked = 0
        self.closed = False
        self.stopping = False  # GOAWAY sent for a drain: closes once its streams are answered
        self.writing_paused = False
        self.flush_scheduled = False
        self.awake: list[StreamBridge] = []  # streams that wrote since the last flush
        self.waits: WindowWaits | None = None  # answered streams waiting for a window, once there is one
        # the idle timeout, from the last bytes received; checked again each second while a stream waits
        self.timer = Deadline(self.loop, self._on_idle)
        self.h2 = server_engine(gateway.runtime.plan.edge.spec.protection)
        # what each stream's Downstream would ask the transport again: found once (connection_made)
        self.peer = ""
        self.trusted = False
        self.certificate: ClientCertificate | None = None

    # --- the client's transport ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = sys.intern(peer[0]) if peer else ""  # as Downstream.connection_made interns it
        self.trusted = self.listener.trusts(self.peer)
        if self.listener.client_certificates:
            self.certificate = client_certificate(transport)
        start(self.h2)
        self.flush()
        self._arm_idle()
        self.gateway.h2_connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gateway.h2_connections.discard(self)
        self.timer.release()
        for bridge in list(self.streams.values()):
            bridge.reset_by_client()
        self.streams.clear()
        if self.waits is not None:
            self.waits.release()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._arm_idle()
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as error:
            # the library queued a GOAWAY with the error's code (ENHANCE_YOUR_CALM for a flood)
            _event("goaway_enhance_your_calm" if isinstance(error, DenialOfServiceError) else "goaway_error")
            self._close()
            return
        for event in events:
            if isinstance(event, DataReceived):
                self._on_data(event)
            elif isinstance(event, RequestReceived):
                self._on_request(event)
            elif isinstance(event, StreamEnded):
                self.discarding.pop(event.stream_id, None)
                bridge = self.streams.get(event.stream_id)
                if bridge is not None:
                    self._request_ended(bridge)
            elif isinstance(event, WindowUpdated):
                self._on_window(event.stream_id)
            elif isinstance(event, StreamReset):
                self._on_reset(event)
            elif isinstance(event, RemoteSettingsChanged):
                if not self.guard.setting():
                    self._calm("settings_flood")
            elif isinstance(event, PingReceived):
                if not self.guard.ping():
                    self._calm("ping_flood")
            elif isinstance(event, ConnectionTerminated):
                self._close()
            if self.closed:
                return
        self.flush()

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        # The client is not reading: stop the upstreams (each stream's Downstream, as a full socket would
        # tell it) and stop reading the client too, so that its PINGs and SETTINGS cannot make the
        # gateway queue acknowledgements it does not take.
        self.writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()
        for bridge in self.streams.values():
            if bridge.downstream is not None:
                bridge.downstream.pause_writing()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
        for bridge in list(self.streams.values()):
            bridge.pump()
            if bridge.downstream is not None and not bridge.writing_paused:
                bridge.downstream.resume_writing()
        self.flush()

    # --- streams -------------------------------------------------------------------------------------

    def _on_request(self, event: RequestReceived) -> None:
        stream_id = event.stream_id
        ended = event.stream_ended is not None
        if self.gateway.draining:
            self.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        try:
            head = request_head(event.headers, ended, self.gateway.runtime.limits)
        except Malformed:
            _event("malformed_request")
            self.h2.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
            return
        except HttpError as error:
            self._downstream(stream_id, ended).refuse(error)  # answered as HTTP/1.1 answers it
            return
        downstream = self._downstream(stream_id, ended)
        downstream.on_request_head(head)
        if ended and not downstream.closed:
            downstream.on_request_end()

    def _downstream(self, stream_id: int, ended: bool) -> Downstream:
        bridge = StreamBridge(self, stream_id)
        bridge.ended = ended
        self.streams[stream_id] = bridge
        downstream = bridge.downstream = Downstream(self.gateway, self.listener)
        downstream.stream_made(cast(asyncio.Transport, bridge), self.peer, self.trusted, self.certificate)
        return downstream

    def _on_data(self, event: DataReceived) -> None:
        size = event.flow_controlled_length
        self.conn_unacked += size
        if self.conn_unacked >= CONNECTION_WINDOW // 2:
            self.h2.increment_flow_control_window(self.conn_unacked)
            self.conn_unacked = 0
        bridge = self.streams.get(event.stream_id)
        if bridge is None or bridge.downstream is None:
            self._discard(event.stream_id, size, event.stream_ended is not None)
            return
        downstream = bridge.downstream
        data = event.data
        bridge.received += len(data)
        if bridge.received > self.gateway.runtime.limits.max_body:
            downstream.refuse(HttpError(413, "the request body is larger than max_request_body"))
            return
        bridge.consumed(size)
        if data:  # an empty DATA frame (ending the stream) is no body: chunked, it would end it early
            downstream.on_request_body(data)

    def discard(self, stream_id: int, withheld: int) -> None:
        """The stream was answered before its request body ended (a 404 before the body): the rest is
        read and dropped, its window given back, up to max_request_body (a client cut off mid-upload by a
        reset reports an error even though it got its answer)."""
        self.discarding[stream_id] = 0
        if withheld:
            self.open_window(stream_id, withheld)

    def _discard(self, stream_id: int, size: int, ended: bool) -> None:
        """DATA of a stream whose body is dropped (see ``discard``)."""
        dropped = self.discarding.get(stream_id)
        if dropped is None:
            return
        if ended:
            del self.discarding[stream_id]
        elif dropped + size > self.gateway.runtime.limits.max_body:
            del self.discarding[stream_id]
            self.reset(stream_id, ErrorCodes.NO_ERROR)  # RFC 9113 8.1: stop sending, the answer is complete
        else:
            self.discarding[stream_id] = dropped + size
            self.open_window(stream_id, size)

    def _request_ended(self, bridge: StreamBridge) -> None:
        bridge.ended = True
        if bridge.downstream is not None and not bridge.downstream.closed:
            bridge.downstream.on_request_end()

    def _on_reset(self, event: StreamReset) -> None:
        bridge = self.streams.get(event.stream_id)
        if bridge is not None:
            bridge.reset_by_client()
        self.discarding.pop(event.stream_id, None)
        if event.remote_reset:
            _event("stream_reset")
            if not self.guard.reset():
                self._calm("rapid_reset")

    def _on_window(self, stream_id: int) -> None:
        if stream_id:
            bridge = self.streams.get(stream_id)
            if bridge is not None:
                bridge.pump()
            return
        for bridge in list(self.streams.values()):  # the connection's window opened: every stream
            bridge.pump()

    # --- what the stream bridges ask -----------------------------------------------------------------

    def extra(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default) if self.transport is not None else default

    def send_headers(self, stream_id: int, fields: Sequence[Field], end_stream: bool) -> None:
        if not self.closed:
            try:
                self.h2.send_headers(stream_id, fields, end_stream=end_stream)
            except (StreamClosedError, ProtocolError):
                return

    def send_data(self, stream_id: int, pending: list[bytes], end: bool) -> tuple[list[bytes], bool]:
        """Send what the windows allow of ``pending``, the last of it with END_STREAM if ``end``; the
        rest, still waiting, and whether the stream was ended."""
        if self.closed or self.writing_paused:
            return pending, False
        conn = self.h2
        try:
            room = conn.local_flow_control_window(stream_id)
        except (StreamClosedError, KeyError):
            return [], False
        frame = conn.max_outbound_frame_size
        ended = False
        while pending and room > 0:
            data = pending[0]
            size = min(len(data), room, frame)
            last = size == len(data) and len(pending) == 1
            try:
                conn.send_data(stream_id, data[:size] if size < len(data) else data, end_stream=end and last)
            except (StreamClosedError, ProtocolError):
                return [], False
            ended = end and last
            room -= size
            if size < len(data):
                pending[0] = data[size:]
            else:
                pending.pop(0)
        return pending, ended

    def end_stream(self, stream_id: int) -> None:
        """The response is complete and all of it sent: END_STREAM on an empty DATA frame."""
        if not self.closed:
            try:
                self.h2.end_stream(stream_id)
            except (StreamClosedError, ProtocolError):
                return

    def unsent(self) -> int:
        """The bytes the socket holds for the client while its buffer is full (pause_writing), else 0."""
        transport = self.transport
        return transport.get_write_buffer_size() if self.writing_paused and transport is not None else 0

    def answered(self, bridge: StreamBridge) -> None:
        """The stream's response went out to its end."""
        self.guard.answered()
        self.forget(bridge)

    def wake(self, bridge: StreamBridge) -> None:
        """``bridge`` has something to send: at the end of this turn of the loop (see ``flush``)."""
        self.awake.append(bridge)
        self._schedule_flush()

    def reset(self, stream_id: int, code: ErrorCodes) -> None:
        if not self.closed:
            try:
                self.h2.reset_stream(stream_id, code)
            except (StreamClosedError, ProtocolError):
                return
            self._schedule_flush()

    def open_window(self, stream_id: int, size: int) -> None:
        if not self.closed:
            try:
                self.h2.increment_flow_control_window(size, stream_id)
            # KeyError: a stream the library has already dropped (closed on both sides)
            except (StreamClosedError, ProtocolError, FlowControlError, KeyError):
                return
            self._schedule_flush()

    def wait_for_window(self, bridge: StreamBridge) -> None:
        """``bridge`` is answered and what is left waits for the client's windows: timed by idle."""
        if self.waits is None:
            self.waits = WindowWaits(self)
        self.waits.waiting(bridge)

    def forget(self, bridge: StreamBridge) -> None:
        if bridge.timed and self.waits is not None:
            self.waits.drop(bridge)
        if self.streams.get(bridge.stream_id) is bridge:
            del self.streams[bridge.stream_id]
            if self.streams or self.closed:
                return
            if self.stopping:
                self.loop.call_soon(self._close)  # after this turn's frames are flushed
            else:
                # idle from the end of its last stream, as an HTTP/1.1 connection is from its last
                # response: a stream the gateway reset (a client that stopped reading it) is not
                # followed at once by GOAWAY because the client had nothing else to send meanwhile
                self._arm_idle()

    # --- writing -------------------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        # One write for everything the streams produced in this turn of the loop: many streams answered
        # together, or a head and its body, leave in one system call.
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        awake = self.awake
        if awake:
            self.awake = []
            for bridge in awake:
                bridge.pump()
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _calm(self, why: str) -> None:
        """The client spent a budget: GOAWAY ENHANCE_YOUR_CALM, and close."""
        _event(why)
        _event("goaway_enhance_your_calm")
        self.h2.close_connection(ErrorCodes.ENHANCE_YOUR_CALM)
        self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.flush()
        self.closed = True
        for bridge in list(self.streams.values()):
            bridge.reset_by_client()
        self.streams.clear()
        if self.transport is None:
            return
        if self.writing_paused:
            # a client that does not read would hold a close (which sends the buffer first) for ever
            self.transport.abort()
        else:
            self.transport.close()  # after the GOAWAY the library queued

    def shutdown(self) -> None:
        """Graceful stop: GOAWAY NO_ERROR naming the last stream begun; those are finished, then the
        connection closes. The frame is written directly: the library, once it sent a GOAWAY itself,
        would refuse to send the rest of the streams begun."""
        if self.closed or self.stopping:
            return
        self.stopping = True
        self.flush()
        goaway = GoAwayFrame(0, last_stream_id=self.h2.highest_inbound_stream_id, error_code=0)
        if self.transport is not None:
            self.transport.write(goaway.serialize())
        if not self.streams:
            self._close()

    # --- idle connections ----------------------------------------------------------------------------

    def _arm_idle(self) -> None:
        timeout = self.gateway.runtime.idle_timeout
        self.timer.arm(timeout, timeout)

    def _on_idle(self) -> None:
        if self.closed:
            return
        if any(bridge.downstream is not None for bridge in self.streams.values()):
            self.timer.arm(_BUSY_RECHECK_S, _BUSY_RECHECK_S)  # a request in progress: not idle
            return
        # nothing heard for the idle timeout and no request in progress (a stalled reader's answered
        # streams included): tell the client, and close
        _event("goaway_idle")
        self.h2.close_connection(ErrorCodes.NO_ERROR)
        self._close()
