"""One request on a client connection, from its head to the end of its response: routing and the policy
stages (proxy/admit.py), the upstream attempts (retries, a stale keep-alive connection retried once),
the response or the gateway's own answer.

The connection (proxy/downstream.py) owns the bytes, the pipelining, keep-alive and the timers; it
makes an Exchange per request head and hands it the body. The Exchange reads the upstream's response
directly (it is the upstream connection's sink), and tells the connection when it is over
(``Downstream.finish``). Everything runs in protocol callbacks, with no task per request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from frontdoor.http.h1 import RequestHead
from frontdoor.http.response import BodyMode
from frontdoor.policy.admission import Admission
from frontdoor.policy.balancing import Balancer, Endpoint
from frontdoor.proxy.admit import admit
from frontdoor.proxy.failures import Failure, Lost
from frontdoor.proxy.framing import chunk, informational_head, own_answer, response_head, upgrade_head
from frontdoor.proxy.runtime import IDEMPOTENT, Runtime
from frontdoor.proxy.states import (
    ANSWERING,
    CONNECTING,
    FORWARDING,
    HOLDING,
    QUEUED,
    RESPONDING,
    SENDING,
    SENT,
    TUNNEL,
)
from frontdoor.proxy.upstream import UpstreamConnection

if TYPE_CHECKING:
    from frontdoor.plan import PlannedRoute
    from frontdoor.proxy.downstream import Downstream

BUFFER_LIMIT: Final = 256 * 1024  # request body held while the upstream connection is being made
_clock: Final = time.monotonic  # the clock of every duration here (the timers': see deadline.py)


class Exchange:
    """One request and its response. Slotted: built for every request."""

    __slots__ = (
        "admission",
        "attempts",
        "buffer",
        "buffered",
        "bytes_in",
        "bytes_out",
        "client",
        "close_after",
        "denied_by",
        "deny_kind",
        "ended",
        "endpoint",
        "failure",
        "forwarded",
        "head",
        "hsts",
        "out_chunked",
        "request_id",
        "retried_stale",
        "route",
        "runtime",
        "started",
        "state",
        "status",
        "trace_line",
        "traceparent",
        "tried",
        "tunnel_opened",
        "upstream",
        "upstream_armed",
        "upstream_started",
        "websocket",
    )

    def __init__(self, client: Downstream, head: RequestHead, runtime: Runtime) -> None:
        self.client = client
        self.head = head
        self.runtime = runtime  # the one this request started under: a reload changes later ones only
        self.hsts = client.listener.hsts  # the Strict-Transport-Security line; admit() may choose by Host
        self.state = QUEUED
        self.started = _clock()
        self.request_id = ""
        self.route: PlannedRoute | None = None
        self.admission: Admission | None = None  # set once the request is routed
        self.forwarded: bytes = b""  # the head as it goes upstream
        self.endpoint: Endpoint | None = None
        self.tried: list[Endpoint] = []
        self.attempts = 0
        self.upstream: UpstreamConnection | None = None
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.ended = False  # the request's body was read to its end
        self.out_chunked = False
        self.close_after = not head.keep_alive
        self.status = 0  # the HTTP status answered (the upstream's or the gateway's), 0 until then
        self.bytes_out = 0
        self.bytes_in = 0  # a WebSocket tunnel's bytes from the client (a request's body is not counted)
        self.tunnel_opened = 0.0  # monotonic time the upstream's 101 opened a WebSocket tunnel
        self.websocket = False
        self.retried_stale = False
        self.denied_by = ""
        self.deny_kind = ""  # the Denial's kind (policy/denykind.py), for the metrics and the log
        self.failure: Failure | None = None  # why the gateway answered a routed request itself
        self.upstream_started = 0.0  # monotonic time the request was handed to the upstream side
        self.traceparent = b""
        self.trace_line = b""  # "traceparent: ...\r\n" as sent upstream and back, b"" with tracing off
        self.upstream_armed = False  # the connection's timer runs the upstream timeout for this one

    # --- the request, as the connection reads it ------------------------------------------------------

    def on_body(self, data: bytes) -> None:
        state = self.state
        upstream = self.upstream
        if upstream is not None and state in FORWARDING:
            if self.head.chunked:
                data = chunk(data)
            if upstream.write_paused:
                upstream.backlog += len(data)  # for the send timeout's look (UpstreamConnection.took_some)
            upstream.write(data)
        elif state in HOLDING:
            self.buffer.append(data)
            self.buffered += len(data)
            if self.buffered > BUFFER_LIMIT:
                self.client.pause("buffer")

    def on_end(self) -> None:
        self.ended = True
        upstream = self.upstream
        if upstream is not None and self.state in FORWARDING:
            if self.head.chunked:
                upstream.write(b"0\r\n\r\n")
            self.client.arm_upstream_timer(self)

    # --- routing and the stages (proxy/admit.py) -------------------------------------------------------

    def start(self) -> None:
        """The request's turn: route it and run the stages; admitted, the upstream attempts begin."""
        admit(self)

    # --- upstream attempts ----------------------------------------------------------------------------

    def connect(self, failure: Failure | None = None) -> None:
        """Pick an endpoint not tried yet and get a connection to it; ``failure`` is the last attempt's."""
        self.state = CONNECTING
        route = self.route
        assert route is not None
        runtime = self.runtime
        endpoint = runtime.balancers[route.service].pick(_clock(), self.tried)
        if endpoint is None:
            self.fail(failure or Failure.NO_ENDPOINT)
            return
        self.endpoint = endpoint
        self.tried.append(endpoint)
        budgets = runtime.retry_budgets
        if budgets and not self.attempts and not self.retried_stale:
            budgets[route.service].request(self.started)
        self.attempts += 1
        pool = runtime.pool(endpoint)
        if not self.retried_stale:
            conn = pool.take_idle()
            if conn is not None:  # keep-alive reuse: straight on, no callback
                self._connected(conn, None)
                return
        pool.acquire(self._connected, fresh=self.retried_stale)

    def _connected(self, conn: UpstreamConnection | None, failure: Failure | None) -> None:
        endpoint = self.endpoint
        assert endpoint is not None
        if conn is None:
            assert failure is not None
            Balancer.failed(endpoint, _clock())
            if self.state is CONNECTING and not self.client.closed:
                runtime = self.runtime
                if (
                    self._may_retry()
                    and self.attempts < runtime.retries.attempts
                    and runtime.retry_allowed(self.route)
                ):
                    self.connect(failure)
                else:
                    self.fail(failure)
            return
        if self.state is not CONNECTING or self.client.closed:
            self.runtime.pool(endpoint).release(conn)
            return
        Balancer.succeeded(endpoint)
        self.upstream = conn
        head = self.head
        conn.begin(self, head.method)
        self.state = SENT
        if not self.buffer and not head.chunked:
            conn.write(self.forwarded)  # the common case: the head alone
        else:
            parts = [self.forwarded]
            if self.buffer:
                parts.extend(map(chunk, self.buffer) if head.chunked else self.buffer)
                self.buffer = []
                self.buffered = 0
                self.client.resume("buffer")
            if self.ended and head.chunked:
                parts.append(b"0\r\n\r\n")
            conn.write(b"".join(parts))
        if self.ended or self.websocket:
            self.client.arm_upstream_timer(self)

    def _may_retry(self) -> bool:
        """Only a request none of whose body is gone, and only an idempotent one if so configured."""
        if self.runtime.retries.only_idempotent and self.head.method not in IDEMPOTENT:
            return False
        return not (self.state is SENT and self.head.has_body)

    def upstream_timeout(self) -> None:
        """The connection's timer: the upstream did not answer in time, or its body stalled."""
        self.upstream_armed = False
        state = self.state
        if state is RESPONDING:
            self._stalled(Failure.BODY_STALLED)
        elif state not in ANSWERING:
            self.fail(Failure.READ_TIMEOUT)

    def send_timeout(self) -> None:
        """The connection's timer: the upstream's write buffer has been full for the upstream timeout.
        If the upstream took some of it meanwhile, the wait starts again; if not, it stopped reading
        the request (nginx's proxy_send_timeout): 504, or once a response began, cut off."""
        upstream = self.upstream
        state = self.state
        if upstream is None or state not in SENDING:
            return
        if upstream.took_some():
            self.client.arm_send_timer(self)
            return
        upstream.reset()
        self.upstream = None
        if state is RESPONDING:
            self._stalled(Failure.SEND_STALLED)
        else:
            self.fail(Failure.SEND_STALLED)

    def _stalled(self, failure: Failure) -> None:
        """The upstream stalled after the response head went to the client: nothing can be answered any
        more, so the client connection is cut off (HTTP/2: the stream is reset), as nginx does; the
        upstream connection is dropped, never pooled."""
        self.failure = failure
        client = self.client
        self.drop_upstream()
        client.logged(self)
        client.abort()  # a truncated response must not look complete to the client

    # --- the response (the upstream connection's sink, proxy/upstream.py Exchange) --------------------

    def on_informational(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> None:
        if status == 100 or self.head.version != "1.1":
            return  # 100 Continue was already answered by the gateway itself
        self.client.out.append(informational_head(status, headers))

    def on_response_head(
        self,
        status: int,
        reason: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        mode: BodyMode,
        length: int | None,
    ) -> None:
        client = self.client
        self.status = status
        if self.websocket and status == 101:
            client.cancel_upstream_timer(self)
            self.state = TUNNEL
            self.tunnel_opened = _clock()
            client.out.append(upgrade_head(self, reason, headers))
            client.tunnel = True
            if client.client_eof:
                # the client half-closed before the tunnel opened: it has nothing to send through it,
                # and a tunnel ends with either side (else it would wait on the upstream for ever)
                self.flush()
                client.close()
            return
        self.state = RESPONDING
        if self.head.has_body and not self.ended:
            self.close_after = True  # the upstream answered before reading the whole body
        response_head(self, client.out, status, reason, mode, length)

    def on_response_body(self, data: bytes) -> None:
        self.bytes_out += len(data)
        self.client.out.append(chunk(data) if self.out_chunked else data)

    def on_response_end(self, reusable: bool) -> None:
        client = self.client
        client.cancel_upstream_timer(self)
        if self.out_chunked:
            client.out.append(b"0\r\n\r\n")
        self.flush()
        conn = self.upstream
        self.upstream = None
        if conn is not None:
            if reusable and self.ended and self.endpoint is not None:
                self.runtime.pool(self.endpoint).release(conn)
            else:
                conn.abort()
        client.finish(self)

    def on_upstream_lost(self, lost: Lost) -> None:
        client = self.client
        conn = self.upstream
        self.upstream = None
        client.cancel_upstream_timer(self)
        if lost is Lost.TUNNEL_ENDED or self.state is TUNNEL:
            client.close()
            return
        if self.state is RESPONDING:
            client.logged(self)
            client.abort()  # a truncated response must not look complete to the client
            return
        # A pooled connection the upstream had just closed: once, on a new connection, without counting it
        # against the endpoint or the retry budget (nothing reached the application).
        stale = conn is not None and conn.used and not conn.got_response_bytes
        if stale and self.ended and not self.retried_stale and self._may_retry():
            self.retried_stale = True
            self.attempts -= 1
            self.tried.pop()
            self.connect()
            return
        self.fail(Failure.NO_RESPONSE)

    def flush(self) -> None:
        """Write what the upstream's last read produced, in one call: a response head and its body
        usually arrive together, and every write to a socket is a system call."""
        client = self.client
        out = client.out
        if out:
            if client.transport is not None and not client.closed:  # closed: written to no one
                client.transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        if self.upstream_armed and self.state is RESPONDING:
            client.upstream_read(self)  # a read of the response's body: the stall timeout starts again

    def on_upstream_tunnel(self, data: bytes) -> None:
        self.bytes_out += len(data)  # per read, not per frame: the tunnel's line counts both ways
        self.client.write(data)

    def pause_upstream_writes(self) -> None:
        client = self.client
        client.pause("upstream")
        client.arm_send_timer(self)

    def resume_upstream_writes(self) -> None:
        """The upstream took enough of the request: reading the client goes on (the body timeout with
        it), and once all of the request was read, the upstream's answer is waited for."""
        client = self.client
        client.stop_send_timer()
        client.resume("upstream")
        if self.ended:
            client.arm_upstream_timer(self)

    # --- the gateway's own answers --------------------------------------------------------------------

    def fail(self, failure: Failure) -> None:
        self.failure = failure
        self.reject(failure.status, failure.reason)

    def reject(self, status: int, reason: str, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """Answer with the gateway's own error; never reached once a response started."""
        client = self.client
        self.drop_upstream()
        if self.head.has_body and not self.ended:
            self.close_after = True  # the rest of its body will not be read
        self.status = status
        answer = own_answer(self, client.listener, status, reason, extra)
        if not client.closed:
            client.write(answer)
            # the access log's "bytes" is the body sent, the gateway's own JSON here
            self.bytes_out = 0 if self.head.method == "HEAD" else len(answer) - answer.index(b"\r\n\r\n") - 4
        client.finish(self)

    def drop_upstream(self) -> None:
        self.client.cancel_upstream_timer(self)
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None
