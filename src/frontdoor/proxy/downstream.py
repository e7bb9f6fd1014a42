"""A client connection: read requests, route them, stream them upstream and the responses back.

Everything here runs in protocol callbacks, with no task per request: the request path is a few method
calls from ``data_received`` to ``transport.write``. Backpressure is passed through both ways by pausing
the reading side whenever the writing side's buffer is full.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, cast

from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import RequestHead, RequestReader
from frontdoor.http.headers import HOP_BY_HOP, downstream_response_headers, upstream_request
from frontdoor.http.messages import error_response, status_line
from frontdoor.http.paths import PathError, normalize_path, strip_route_prefix
from frontdoor.http.response import BodyMode, forwarded_lines
from frontdoor.http.tracing import fresh_ids, new_request_id, traceparent_of, valid_request_id
from frontdoor.policy.balancing import Balancer, Endpoint
from frontdoor.policy.denykind import kind_of
from frontdoor.policy.pipeline import Admission, Denial, SeenToken
from frontdoor.proxy.failures import Failure, Lost
from frontdoor.proxy.runtime import IDEMPOTENT, Listener, Runtime
from frontdoor.proxy.upstream import UpstreamConnection

if TYPE_CHECKING:
    from frontdoor.plan import PlannedRoute
    from frontdoor.proxy.server import Gateway

BUFFER_LIMIT: Final = 256 * 1024
LINGER_S: Final = 2.0  # request body held while the upstream connection is being made
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
# what the connection's one timer is running for
_NO_TIMEOUT: Final = 0
_HEADER_TIMEOUT: Final = 1
_UPSTREAM_TIMEOUT: Final = 2
_IDLE_TIMEOUT: Final = 3
_NOT_PAUSED: Final[frozenset[str]] = frozenset()
_TIMER_SLACK_S: Final = 0.001  # the loop's timers have a millisecond resolution
# The clock of every deadline and duration here: the one asyncio's loop.time() reads (and uvloop's,
# cached per loop turn, trails by at most a turn; a timer then fires a little late, never early). Bound
# once: compiled, reading a module attribute and calling a loop method cost more than the clock itself.
_clock: Final = time.monotonic


class Request:
    """One request on a connection, from its head to the end of its response."""

    __slots__ = (
        "admission",
        "attempts",
        "buffer",
        "buffered",
        "bytes_out",
        "close_after",
        "conn",
        "denied_by",
        "deny_kind",
        "ended",
        "endpoint",
        "failure",
        "forwarded",
        "head",
        "out_chunked",
        "request_id",
        "response_started",
        "retried_stale",
        "route",
        "runtime",
        "sent",
        "started",
        "status",
        "trace_line",
        "traceparent",
        "tried",
        "upstream_armed",
        "upstream_started",
        "websocket",
    )

    def __init__(self, head: RequestHead, runtime: Runtime) -> None:
        self.head = head
        self.runtime = runtime
        self.started = _clock()
        self.request_id = ""
        self.route: PlannedRoute | None = None
        self.forwarded: bytes = b""
        self.endpoint: Endpoint | None = None
        self.tried: list[Endpoint] = []
        self.attempts = 0
        self.conn: UpstreamConnection | None = None
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.ended = False
        self.sent = False  # the head went upstream: body chunks now go straight to the connection
        self.response_started = False
        self.out_chunked = False
        self.close_after = not head.keep_alive
        self.status = 0
        self.bytes_out = 0
        self.websocket = False
        self.retried_stale = False
        self.denied_by = ""
        self.deny_kind = ""  # the Denial's kind, for the metrics and the log
        self.failure: Failure | None = None  # why the gateway answered a routed request itself
        self.upstream_started = 0.0  # monotonic time the request was handed to the upstream side
        self.traceparent = b""
        self.trace_line = b""  # "traceparent: ...\r\n" as sent upstream and back, b"" with tracing off
        self.upstream_armed = False  # the upstream timeout runs for this request
        self.admission: Admission | None = None  # set once the request is routed


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


class Downstream(asyncio.Protocol):
    # Slots, and a plain list for the (rare) pipelined requests: ten thousand idle keep-alive
    # connections are ten thousand of these objects.
    __slots__ = (
        "client_eof",
        "closed",
        "current",
        "deadline",
        "deadline_kind",
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
        "timer",
        "timer_at",
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
        self.current: Request | None = None  # the request being answered
        self.reading: Request | None = None  # the request whose body is being read (pipelining)
        # pipelined requests waiting their turn: None until a client pipelines (rare), rather than an
        # empty list per connection (ten thousand idle connections would hold half a megabyte of them)
        self.pending: list[Request] | None = None
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
        # One timer per connection: the header, upstream and idle timeouts never run at the same time,
        # so arming one replaces the other. The handle is re-armed lazily, only when it fires before
        # ``deadline`` (a timeout that was pushed later), instead of a new handle per phase.
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0  # when ``timer`` fires
        self.deadline = 0.0
        self.deadline_kind = _NO_TIMEOUT

    # --- connection lifecycle ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        # interned: ten thousand connections from a few addresses share a few strings (and the access
        # log's memo of their JSON finds them by identity)
        self.peer = sys.intern(peer[0]) if peer else ""
        self.trusted = self.listener.trusts(self.peer)
        self.reader = RequestReader(self, self.gateway.runtime.limits)
        self.gateway.connections.add(self)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gateway.connections.discard(self)
        self._cancel_timers()
        if self.current is not None and self.current.status != -1:
            if not self.current.response_started:
                self.current.status = 499  # nginx's "client closed request": nothing was answered
            self._logged(self.current)
        for request in (self.current, *(self.pending or ())):
            if request is not None:
                self._drop_upstream(request)
        self.current = None
        self.pending = None

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the answer was sent; what the client still sends is dropped
        if self.tunnel:
            if self.current is not None and self.current.conn is not None:
                self.current.conn.write(data)
            return
        if self.current is None and self.deadline_kind != _HEADER_TIMEOUT:
            self._arm_header_timer()
        assert self.reader is not None
        try:
            rest = self.reader.feed(data)
        except ProtocolError as error:
            self._protocol_error(error)
            return
        if rest and self.current is not None and self.current.conn is not None:
            self.current.conn.write(rest)

    def eof_received(self) -> bool | None:
        if self.current is None or self.tunnel or self.lingering:
            return None  # close: nothing is owed, or the tunnel ends with either side
        self.client_eof = True
        return True  # a half-closed client still gets its responses; the connection closes after them

    def pause_writing(self) -> None:
        if self.current is not None and self.current.conn is not None:
            self.current.conn.pause_reading()

    def resume_writing(self) -> None:
        if self.current is not None and self.current.conn is not None:
            self.current.conn.resume_reading()

    def shutdown(self) -> None:
        """Graceful stop: close now if idle, otherwise after the response in flight."""
        if self.current is None:
            self._close()
        else:
            self.current.close_after = True

    # --- reading requests (RequestSink) --------------------------------------------------------------

    def on_request_head(self, head: RequestHead) -> None:
        self._cancel_header_timer()
        request = Request(head, self.gateway.runtime)
        self.reading = request
        if self.current is None:
            self.current = request
            self._start(request)
        else:
            if self.pending is None:
                self.pending = []
            self.pending.append(request)
            self._pause("pipeline")

    def on_request_body(self, chunk: bytes) -> None:
        request = self.reading
        if request is None:
            return
        if request.sent and request is self.current and request.conn is not None:
            request.conn.write(_chunk(chunk) if request.head.chunked else chunk)
        elif request.status == 0:
            request.buffer.append(chunk)
            request.buffered += len(chunk)
            if request.buffered > BUFFER_LIMIT:
                self._pause("buffer")

    def on_request_end(self) -> None:
        request = self.reading
        if request is None:
            return
        request.ended = True
        if request.sent and request is self.current and request.conn is not None:
            if request.head.chunked:
                request.conn.write(b"0\r\n\r\n")
            self._arm_upstream_timer(request)

    # --- routing and forwarding ----------------------------------------------------------------------

    def _start(self, request: Request) -> None:
        head = request.head
        runtime = request.runtime
        ids = fresh_ids()
        request.request_id = self._request_id(head) or ids[:32]
        path, _, query = head.target.partition("?")  # split_target
        try:
            normalized = normalize_path(path)
        except PathError as error:
            self._reject(request, 400, str(error))
            return
        # the listener as the request's runtime knows it: a reload changes routes for new requests
        if runtime is not self.listener_runtime:
            self.listener = runtime.listeners.get(self.listener.address, self.listener)
            self.listener_runtime = runtime
        match = self.listener.router.match(head.host, normalized, head.method)
        if match.route is None:
            if match.status == 405:
                allow = (b"allow", ", ".join(match.allowed).encode("ascii"))
                self._reject(request, 405, f"{head.method} is not allowed here", extra=(allow,))
            else:
                self._reject(request, 404, "no route for this host and path")
            return
        route = request.route = match.route
        if route.service not in runtime.balancers:
            self._fail(request, Failure.NO_UPSTREAM)
            return
        admission = request.admission = Admission(
            head,
            route,
            head.method,
            normalized,
            self.peer,
            self.listener.trusted,
            request.started,  # a moment ago, in this same callback
            self.seen,
        )
        verdict = runtime.pipeline.check(admission)
        if verdict is None:
            self._admitted(request, admission, normalized, query, ids)
        elif isinstance(verdict, Denial):
            self._deny(request, verdict)
        else:
            self._pause("decision")  # nothing more is read until this request is decided
            task: asyncio.Future[Denial | None] = asyncio.ensure_future(verdict, loop=self.loop)
            task.add_done_callback(lambda done: self._decided(request, done, normalized, query, ids))

    def _decided(
        self, request: Request, done: asyncio.Future[Denial | None], normalized: str, query: str, ids: str
    ) -> None:
        """A pending decision is in: go on with the request, unless the client went away meanwhile."""
        self._resume("decision")
        admission = request.admission
        assert admission is not None
        if request is not self.current or self.closed:
            admission.finish(499)
            return
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            self.gateway.report_error("a policy stage failed", error)
            self._fail(request, Failure.UNDECIDED)
            return
        verdict = done.result()
        if verdict is None:
            self._admitted(request, admission, normalized, query, ids)
        else:
            self._deny(request, verdict)

    def _deny(self, request: Request, denial: Denial) -> None:
        request.denied_by = denial.rule
        request.deny_kind = kind_of(denial)
        self._reject(request, denial.status, denial.reason, denial.headers)

    def _admitted(
        self, request: Request, admission: Admission, normalized: str, query: str, ids: str
    ) -> None:
        head = request.head
        route = admission.route
        if head.upgrade == "websocket" and self.reader is not None:
            request.websocket = True
            request.close_after = True  # after a refused upgrade the bytes that follow are not HTTP
            self.reader.accept_upgrade()
        if head.expect_continue and self.transport is not None:
            self.transport.write(CONTINUE)
        target = strip_route_prefix(normalized, route.path.path) if route.strip_prefix else normalized
        if query:
            target += "?" + query
        forwarded = upstream_request(
            head,
            target,
            self.peer,
            self.trusted,
            self.listener.scheme,
            request.request_id,
            request.websocket,
            identity=admission.upstream_headers or (),
            fallback_host=self.listener.address_text,
            ids=ids,
            trace=self.listener.trace,
        )
        request.forwarded = forwarded.head
        request.traceparent = forwarded.traceparent
        request.trace_line = forwarded.trace_line
        request.upstream_started = _clock()
        self._connect(request)

    def _request_id(self, head: RequestHead) -> str:
        """A trusted proxy's request id, or "" to make one."""
        if self.trusted:
            for name, value in head.headers:
                if name.lower() == b"x-request-id" and valid_request_id(value):
                    return value.decode("ascii")
        return ""

    def _connect(self, request: Request, failure: Failure | None = None) -> None:
        """Pick an endpoint not tried yet and get a connection to it; ``failure`` is the last attempt's."""
        assert request.route is not None
        balancer = request.runtime.balancers[request.route.service]
        endpoint = balancer.pick(_clock(), request.tried)
        if endpoint is None:
            self._fail(request, failure or Failure.NO_ENDPOINT)
            return
        request.endpoint = endpoint
        request.tried.append(endpoint)
        budgets = request.runtime.retry_budgets
        if budgets and not request.attempts and not request.retried_stale:
            budgets[request.route.service].request(request.started)
        request.attempts += 1
        pool = request.runtime.pool(endpoint)
        if not request.retried_stale:
            conn = pool.take_idle()
            if conn is not None:  # keep-alive reuse: straight on, no callback
                self._connected(request, conn, None)
                return
        pool.acquire(
            lambda conn, failure: self._connected(request, conn, failure), fresh=request.retried_stale
        )

    def _connected(self, request: Request, conn: UpstreamConnection | None, failure: Failure | None) -> None:
        endpoint = request.endpoint
        assert endpoint is not None
        if conn is None:
            assert failure is not None
            Balancer.failed(endpoint, _clock())
            if request is self.current and not self.closed:
                if (
                    self._may_retry(request)
                    and request.attempts < request.runtime.retries.attempts
                    and request.runtime.retry_allowed(request.route)
                ):
                    self._connect(request, failure)
                else:
                    self._fail(request, failure)
            return
        if request is not self.current or self.closed:
            request.runtime.pool(endpoint).release(conn)
            return
        Balancer.succeeded(endpoint)
        request.conn = conn
        head = request.head
        conn.begin(self, head.method)
        if not request.buffer and not head.chunked:
            request.sent = True
            conn.write(request.forwarded)  # the common case: the head alone
        else:
            parts = [request.forwarded]
            if request.buffer:
                parts.extend(map(_chunk, request.buffer) if head.chunked else request.buffer)
                request.buffer = []
                request.buffered = 0
                self._resume("buffer")
            if request.ended and head.chunked:
                parts.append(b"0\r\n\r\n")
            request.sent = True
            conn.write(b"".join(parts))
        if request.ended or request.websocket:
            self._arm_upstream_timer(request)

    def _fail(self, request: Request, failure: Failure) -> None:
        request.failure = failure
        self._reject(request, failure.status, failure.reason)

    @staticmethod
    def _may_retry(request: Request) -> bool:
        """Only a request none of whose body is gone, and only an idempotent one if so configured."""
        if request.runtime.retries.only_idempotent and request.head.method not in IDEMPOTENT:
            return False
        return not (request.sent and request.head.has_body)

    # --- responses (Exchange) ------------------------------------------------------------------------

    def on_informational(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> None:
        request = self.current
        if request is None or status == 100 or request.head.version != "1.1" or self.transport is None:
            return  # 100 Continue was already answered by the gateway itself
        fields = (n + b": " + v + b"\r\n" for n, v in headers if n.lower() not in HOP_BY_HOP)
        self.out.append(b"".join([status_line(status), *fields, b"\r\n"]))

    def on_response_head(
        self,
        status: int,
        reason: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        mode: BodyMode,
        length: int | None,
    ) -> None:
        request = self.current
        if request is None or self.transport is None:
            return
        self._cancel_upstream_timer(request)
        request.response_started = True
        request.status = status
        if request.websocket and status == 101:
            extra = self.listener.hsts + b"connection: upgrade\r\nupgrade: websocket\r\n"
            lines = downstream_response_headers(headers, request.request_id, request.trace_line, extra)
            self.out.append(b"".join([status_line(101, reason), *lines, b"\r\n"]))
            self.tunnel = True
            return
        if request.head.has_body and not request.ended:
            request.close_after = True  # the upstream answered before reading the whole body
        conn = request.conn
        lines = [
            status_line(status, reason),
            *(forwarded_lines(conn.reader) if conn is not None else ()),
            b"x-request-id: %b\r\n%b%b"
            % (request.request_id.encode("ascii"), request.trace_line, self.listener.hsts),
        ]
        admission = request.admission
        if admission is not None and admission.response_head:
            lines.append(admission.response_head)
        if request.head.method == "HEAD" or mode == "none":
            if length is not None and status not in (204,) and status >= 200:
                lines.append(b"content-length: %d\r\n" % length)
        elif mode == "length":
            lines.append(b"content-length: %d\r\n" % (length or 0))
        elif request.head.version == "1.1":
            request.out_chunked = True
            lines.append(b"transfer-encoding: chunked\r\n")
        else:
            request.close_after = True  # an HTTP/1.0 client learns the end from the close
        if request.close_after:
            lines.append(b"connection: close\r\n")
        elif request.head.version == "1.0":
            lines.append(b"connection: keep-alive\r\n")
        lines.append(b"\r\n")
        self.out.append(b"".join(lines))

    def on_response_body(self, chunk: bytes) -> None:
        request = self.current
        if request is None or self.transport is None:
            return
        request.bytes_out += len(chunk)
        self.out.append(_chunk(chunk) if request.out_chunked else chunk)

    def on_response_end(self, reusable: bool) -> None:
        request = self.current
        if request is None or self.transport is None:
            return
        if request.out_chunked:
            self.out.append(b"0\r\n\r\n")
        self.flush()
        conn = request.conn
        request.conn = None
        if conn is not None:
            if reusable and request.ended and request.endpoint is not None:
                request.runtime.pool(request.endpoint).release(conn)
            else:
                conn.abort()
        self._finish(request)

    def on_upstream_lost(self, lost: Lost) -> None:
        request = self.current
        if request is None:
            return
        conn = request.conn
        request.conn = None
        self._cancel_upstream_timer(request)
        if self.tunnel:
            self._close()
            return
        if request.response_started:
            self._logged(request)
            request.status = -1  # logged: the response was cut short
            self._abort()  # a truncated response must not look complete to the client
            return
        # A pooled connection the upstream had just closed: once, on a new connection, without counting it
        # against the endpoint or the retry budget (nothing reached the application).
        stale = conn is not None and conn.used and not conn.got_response_bytes
        if stale and request.ended and not request.retried_stale and self._may_retry(request):
            request.retried_stale = True
            request.sent = False
            request.attempts -= 1
            request.tried.pop()
            self._connect(request)
            return
        self._fail(request, Failure.NO_RESPONSE)

    def flush(self) -> None:
        """Write what the upstream's last read produced, in one call: a response head and its body
        usually arrive together, and every write to a socket is a system call."""
        out = self.out
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def on_upstream_tunnel(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def pause_upstream_writes(self) -> None:
        self._pause("upstream")

    def resume_upstream_writes(self) -> None:
        self._resume("upstream")

    # --- finishing -----------------------------------------------------------------------------------

    def _reject(
        self, request: Request, status: int, reason: str, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        """Answer ``request`` with the gateway's own error; never reached once a response started."""
        self._drop_upstream(request)
        if request.head.has_body and not request.ended:
            request.close_after = True  # the rest of its body will not be read
        request.status = status
        owner = request.route.owner if request.route else self.gateway.runtime.plan.platform_team
        if not request.trace_line:
            incoming = next((v for n, v in request.head.headers if n.lower() == b"traceparent"), None)
            request.trace_line = self.listener.trace(incoming, None)
            request.traceparent = traceparent_of(request.trace_line)
        trace = ((b"traceparent", request.traceparent),) if request.traceparent else ()
        extra = (*trace, *self.listener.hsts_field, *extra)
        if request.admission is not None and request.admission.response_head:
            extra += tuple(request.admission.response_fields())
        head_only = request.head.method == "HEAD"
        answer = error_response(
            status,
            reason,
            request.request_id or new_request_id(),
            owner,
            close=request.close_after,
            extra_headers=extra,
            head_only=head_only,
        )
        if self.transport is not None and not self.closed:
            self.transport.write(answer)
            # the access log's "bytes" is the body sent, the gateway's own JSON here
            request.bytes_out = 0 if head_only else len(answer) - answer.index(b"\r\n\r\n") - 4
        self._finish(request)

    def _logged(self, request: Request) -> None:
        """The request is over: log it and let the stages that admitted it settle (in-flight counts)."""
        self.gateway.log_request(self, request)
        if request.admission is not None:
            request.admission.finish(request.status)

    def _finish(self, request: Request) -> None:
        self._logged(request)
        self.current = None
        if self.reading is request and request.ended:
            self.reading = None  # an idle keep-alive connection keeps nothing of its last request
        if request.close_after or self.failed is not None or self.gateway.draining:
            if self.failed is not None and self.transport is not None:
                self.transport.write(
                    error_response(self.failed.status, self.failed.reason, new_request_id(), close=True)
                )
            self._close(linger=True)
            return
        if self.pending:
            following = self.pending.pop(0)
            if self.client_eof:
                following.close_after = following.close_after or not self.pending
            if not self.pending:
                self._resume("pipeline")
            self.current = following
            self._start(following)
            return
        if self.client_eof:
            self._close()
            return
        self._arm_idle_timer()

    def _protocol_error(self, error: ProtocolError) -> None:
        current = self.current
        if current is not None and current is self.reading and not current.ended:
            # The body of the request being answered broke the rules (too large, bad chunk): its
            # upstream exchange is abandoned and the client hears why, unless a response already began.
            if current.response_started:
                self._abort()
                return
            current.close_after = True
            self._reject(current, error.status, error.reason)
            return
        if current is not None:
            self.failed = error  # a later pipelined request: answered after the one in flight, then close
            self._pause("failed")
            return
        if self.transport is not None:
            self.transport.write(error_response(error.status, error.reason, new_request_id(), close=True))
        self.gateway.log_protocol_error(self, error)
        self._close(linger=True)

    def _drop_upstream(self, request: Request) -> None:
        self._cancel_upstream_timer(request)
        if request.conn is not None:
            request.conn.abort()
            request.conn = None

    def _close(self, linger: bool = False) -> None:
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

    def _abort(self) -> None:
        self._cancel_timers()
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    # --- flow control and timers ---------------------------------------------------------------------

    def _pause(self, reason: str) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused = self.paused | {reason}

    def _resume(self, reason: str) -> None:
        if reason in self.paused:
            self.paused = self.paused - {reason}
            if not self.paused and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def _arm(self, kind: int, timeout: float, step: float) -> None:
        """Run the ``kind`` timeout for ``timeout`` seconds. A new handle fires after at most ``step``
        (the shortest timeout), so that arming any later deadline keeps the handle in place."""
        now = _clock()
        deadline = now + timeout
        self.deadline = deadline
        self.deadline_kind = kind
        timer = self.timer
        if timer is None or self.timer_at > deadline:
            if timer is not None:
                timer.cancel()
            at = self.timer_at = now + step if step < timeout else deadline
            self.timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        kind = self.deadline_kind
        if kind == _NO_TIMEOUT:
            return
        deadline = self.deadline
        if _clock() < deadline - _TIMER_SLACK_S:
            self.timer_at = deadline
            self.timer = self.loop.call_at(deadline, self._on_timer)
            return
        self.deadline_kind = _NO_TIMEOUT
        if kind == _HEADER_TIMEOUT:
            self._header_timeout()
        elif kind == _IDLE_TIMEOUT:
            self._close()
        elif self.current is not None:
            self._upstream_timeout(self.current)

    def _arm_header_timer(self) -> None:
        runtime = self.gateway.runtime
        self._arm(_HEADER_TIMEOUT, runtime.timeouts.header, runtime.timer_step)

    def _header_timeout(self) -> None:
        if self.current is None and not self.closed:
            self._protocol_error(ProtocolError(408, "the request head did not arrive in time"))

    def _cancel_header_timer(self) -> None:
        if self.deadline_kind == _HEADER_TIMEOUT:
            self.deadline_kind = _NO_TIMEOUT

    def _arm_idle_timer(self) -> None:
        runtime = self.gateway.runtime
        self._arm(_IDLE_TIMEOUT, runtime.timeouts.idle, runtime.timer_step)

    def _arm_upstream_timer(self, request: Request) -> None:
        if not request.response_started and not request.upstream_armed:
            request.upstream_armed = True
            runtime = request.runtime
            self._arm(_UPSTREAM_TIMEOUT, runtime.timeouts.upstream, runtime.timer_step)

    def _upstream_timeout(self, request: Request) -> None:
        request.upstream_armed = False
        if not request.response_started:
            self._fail(request, Failure.READ_TIMEOUT)

    def _cancel_upstream_timer(self, request: Request) -> None:
        if request.upstream_armed:
            request.upstream_armed = False
            if self.deadline_kind == _UPSTREAM_TIMEOUT:
                self.deadline_kind = _NO_TIMEOUT

    def _cancel_timers(self) -> None:
        self.deadline_kind = _NO_TIMEOUT
        if self.current is not None:
            self.current.upstream_armed = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
