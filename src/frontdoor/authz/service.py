"""``frontdoor authz``: the check listener, its connections, the admin listener, reload and drain.

A connection is a protocol with callbacks, as in ``serve``: a check that every stage decides at once is
answered from ``data_received``; only a stage that waits on I/O makes a task, and the connection then
reads nothing more until that check is answered (answers keep the order of the requests).

Operating it is serve's code (observe/control.py and the admin listener): the same reloads, the same
stop store (so a stop through either process's admin API is enforced by both), the same admin API when
the Edge declares ``admin``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Final, cast

from frontdoor.authz.answers import allow, answer_status, deny
from frontdoor.authz.decide import Outcome
from frontdoor.authz.dialects import has_dialect_headers
from frontdoor.authz.runtime import AuthzRuntime, Settings, build_authz_runtime
from frontdoor.authz.signin import sign_in, sign_in_reply
from frontdoor.contract.values import ListenAddress
from frontdoor.deadline import Deadline
from frontdoor.errors import FrontdoorError
from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import RequestHead, RequestReader
from frontdoor.http.messages import error_response, status_line
from frontdoor.http.probes import probe
from frontdoor.http.tracing import new_request_id, valid_request_id
from frontdoor.lifecycle import install_event_loop, run_until_stopped
from frontdoor.observe import metrics
from frontdoor.observe.accesslog import AccessLog
from frontdoor.observe.adminlistener import AdminProtocol
from frontdoor.observe.control import Operations
from frontdoor.observe.traffic import RouteKey
from frontdoor.plan import PlannedRoute
from frontdoor.policy.admission import StageContext
from frontdoor.policy.denykind import DenyKind
from frontdoor.policy.killswitch import route_id

log = logging.getLogger("frontdoor.authz")
#: answers about the check request itself, not about an original request: not in the traffic metrics
_NOT_CHECKS = frozenset({"untrusted-peer", "bad-check"})
# a connection whose timeout passed while a check of it is pending looks again this often
_BUSY_RECHECK_S: Final = 0.05


class AuthzService:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        runtime: AuthzRuntime,
        access_log: AccessLog,
        ops: Operations[AuthzRuntime] | None = None,
    ) -> None:
        self.loop = loop
        self.runtime = runtime
        self.access_log = access_log
        self.ops = ops
        self.connections: set[AuthzConnection] = set()
        self.server: asyncio.Server | None = None
        self.admin: asyncio.Server | None = None
        self.ready = False
        self.draining = False
        self.reuse_port = False
        self.recorder = metrics.recorder()
        # per route (the object kept so that an id is never reused while it is here): its metric labels
        self._route_keys: dict[int, tuple[PlannedRoute, RouteKey]] = {}
        self._unmatched: RouteKey = ("unmatched", "", "", runtime.plan.platform_team)

    def install(self, runtime: AuthzRuntime) -> None:
        """A reloaded contract: new checks use it (a check decides at once or keeps its own stages)."""
        self.runtime = runtime
        self._route_keys = {}
        self._unmatched = ("unmatched", "", "", runtime.plan.platform_team)

    def record(self, outcome: Outcome, started: float) -> None:
        """The check in the metrics, labelled as serve labels the request (its status: serve's)."""
        route = outcome.route
        if route is None:
            key = self._unmatched
        else:
            known = self._route_keys.get(id(route))
            if known is None or known[0] is not route:
                known = self._route_keys[id(route)] = (
                    route,
                    (route_id(route), str(route.path), route.service, route.owner),
                )
            key = known[1]
        original = outcome.original
        self.recorder.record(
            key,
            metrics.method_label(original.method) if original is not None else "other",
            outcome.status,
            time.perf_counter() - started,
            outcome.kind if outcome.status != 200 else "",
            outcome.rule,
        )

    async def _listen(
        self, address: ListenAddress, factory: Callable[[], asyncio.Protocol]
    ) -> asyncio.Server:
        try:
            return await self.loop.create_server(
                factory, address.host, address.port, reuse_port=self.reuse_port, backlog=4096
            )
        except OSError as exc:
            raise FrontdoorError(f"cannot listen on {address}: {exc.strerror or exc}") from None

    async def start(self, address: ListenAddress, admin_address: ListenAddress | None = None) -> None:
        if self.ops is not None:
            await self.ops.read_stops()  # a stop in force applies from the first check
        self.server = await self._listen(address, lambda: AuthzConnection(self))
        log.info("authz listening on %s", address)
        admin = self.runtime.plan.edge.spec.admin
        if admin is not None and self.ops is not None:
            where = admin_address or admin.listen
            self.admin = await self._listen(where, lambda: AdminProtocol(self))
            log.info("admin listening on %s", where)
            if not where.is_loopback:
                log.warning("the admin listener %s is reachable beyond loopback, without TLS", where)
        if self.ops is not None:
            self.ops.start()
        self._flush_log()
        # what was built so far lives as long as the process: later collections skip it (as serve does)
        gc.collect()
        gc.freeze()
        self.ready = True

    def _flush_log(self) -> None:
        self.access_log.flush()
        if not self.draining:
            self.loop.call_later(AccessLog.FLUSH_S, self._flush_log)

    def log_check(
        self,
        connection: AuthzConnection,
        request_id: str,
        outcome: Outcome,
        status: int,
        headers: Sequence[tuple[bytes, bytes]] = (),
        own: RequestHead | None = None,
    ) -> None:
        """``headers``: the check's, which are the original request's (for the Edge's logged headers)."""
        self.access_log.follow(self.runtime.plan)  # the Edge's access_log shape, again after a reload
        if not self.access_log.on:
            return
        original, route, admission = outcome.original, outcome.route, outcome.admission
        self.access_log.write(
            {
                "time": self.access_log.now(),
                "request_id": request_id,
                "client": admission.client_address() if admission is not None else connection.peer,
                "dialect": original.dialect if original is not None else None,
                # a sign-in path is the browser's own request (``own``), not a check about another
                "method": original.method if original is not None else own.method if own else None,
                "host": original.host if original is not None else own.host if own else None,
                "path": original.target.partition("?")[0]
                if original is not None
                else own.target.partition("?")[0]
                if own
                else None,
                "status": status,
                "decision": outcome.status,
                "route": route_id(route) if route is not None else None,  # as serve logs it
                "route_path": str(route.path) if route is not None else None,
                "service": route.service if route is not None else None,
                "owner": route.owner if route is not None else None,
                "deny": outcome.kind or None,
                "denied_by": outcome.rule or None,
            },
            headers,
        )

    def report_error(self, what: str, error: BaseException | None) -> None:
        log.error("%s", what, exc_info=error)

    async def drain(self, deadline: float) -> None:
        self.draining = True
        self.ready = False
        if self.ops is not None:
            self.ops.stop()
        for server in (self.server, self.admin):
            if server is not None:
                server.close()
        for connection in list(self.connections):
            connection.shutdown()
        end = self.loop.time() + deadline
        while self.connections and self.loop.time() < end:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()
        self.access_log.flush()


class AuthzConnection(asyncio.Protocol):
    __slots__ = (
        "busy",
        "closed",
        "failed",
        "mid_request",
        "peer",
        "reader",
        "service",
        "timer",
        "transport",
        "trusted",
        "waiting",
    )

    def __init__(self, service: AuthzService) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.reader: RequestReader | None = None
        self.peer = ""
        self.trusted = False
        self.busy = False  # a check is waiting on a stage: later requests wait in ``waiting``
        self.waiting: list[RequestHead] = []
        self.failed: bytes | None = None  # the error for bytes that followed a pending check
        self.closed = False
        self.mid_request = True  # bytes of a request head are expected (the header timeout applies)
        # one timer for the header and idle timeouts, as the gateway's client connections (deadline.py)
        self.timer = Deadline(service.loop, self._on_timer)

    # --- lifecycle -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        runtime = self.service.runtime
        self.trusted = runtime.checker.trusts(self.peer)
        self.reader = RequestReader(self, runtime.limits)
        self.service.connections.add(self)
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.service.connections.discard(self)
        self.timer.release()

    def data_received(self, data: bytes) -> None:
        self.mid_request = True
        self._arm_timer()
        assert self.reader is not None
        try:
            self.reader.feed(data)
        except ProtocolError as error:
            reply = error_response(error.status, error.reason, new_request_id(), close=True)
            if self.busy:  # answered after the checks before it, in order
                self.failed = reply
                return
            if not self.closed and self.transport is not None:
                self.transport.write(reply)
            self._close()

    def shutdown(self) -> None:
        if not self.busy:
            self._close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    def _close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    # --- timeouts: the header timeout while a head is expected, else the idle timeout ----------------

    def _arm_timer(self) -> None:
        """From now: the last bytes read, or a request head complete (``mid_request`` says which)."""
        timeouts = self.service.runtime.timeouts
        limit = timeouts.header if self.mid_request else timeouts.idle
        self.timer.arm(limit, min(timeouts.header, timeouts.idle))

    def _on_timer(self) -> None:
        if self.closed:
            return
        if self.busy:  # a check is still being decided: its answer first, then the timeout applies
            self.timer.arm(_BUSY_RECHECK_S, _BUSY_RECHECK_S)
            return
        if self.mid_request and self.transport is not None:  # a head that never completed, as serve
            reason = "the request head did not arrive in time"
            self.transport.write(error_response(408, reason, new_request_id(), close=True))
        self._close()

    # --- requests (RequestSink) ----------------------------------------------------------------------

    def on_request_head(self, head: RequestHead) -> None:
        self.mid_request = False
        self._arm_timer()  # the idle timeout, from the end of this head
        if self.busy:
            self.waiting.append(head)
            return
        self._answer(head)

    def on_request_body(self, chunk: bytes) -> None:
        pass  # decisions never depend on a body: it is read and dropped

    def on_request_end(self) -> None:
        pass

    def _answer(self, head: RequestHead) -> None:
        started = time.perf_counter()
        service = self.service
        checker = service.runtime.checker
        if checker.is_probe(head):
            self._probe(head)
            return
        signin = service.runtime.signin
        path = head.target.partition("?")[0]
        if signin is not None and signin.handles(path) and not has_dialect_headers(head):
            result: Outcome | Awaitable[Outcome] = sign_in(signin, head, self.trusted, service.runtime.plan)
        else:
            result = checker.check(head, self.peer, self.trusted)
        if isinstance(result, Outcome):
            self._reply(head, result, started)
            return
        self.busy = True
        if self.transport is not None:
            self.transport.pause_reading()
        task = asyncio.ensure_future(result, loop=service.loop)
        task.add_done_callback(lambda done: self._decided(head, done, started))

    def _decided(self, head: RequestHead, done: asyncio.Future[Outcome], started: float) -> None:
        self.busy = False
        if self.closed:
            return
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            self.service.report_error("a policy stage failed", error)
            self._reply(
                head, Outcome(503, "the gateway could not decide this request", DenyKind.ERROR), started
            )
        else:
            self._reply(head, done.result(), started)
        while self.waiting and not self.busy and not self.closed:
            self._answer(self.waiting.pop(0))
        if self.busy or self.closed or self.transport is None:
            return
        if self.failed is not None:
            self.transport.write(self.failed)
            self._close()
            return
        self.transport.resume_reading()

    def _reply(self, head: RequestHead, outcome: Outcome, started: float) -> None:
        if outcome.kind not in _NOT_CHECKS:
            self.service.record(outcome, started)
        if self.transport is None or self.closed:
            return
        close = not head.keep_alive or self.service.draining
        request_id = _request_id(head)
        original = outcome.original
        dialect = original.dialect if original is not None else None
        if outcome.answer is not None:  # a sign-in path: the browser's own answer, not a check's
            data, status = sign_in_reply(outcome, request_id, close, head.method == "HEAD"), outcome.status
        elif outcome.status == 200:
            data, status = allow(outcome, close), 200
        else:
            status = answer_status(outcome, dialect)
            data = deny(outcome, dialect, request_id, close, head.method == "HEAD")
        own = head if outcome.answer is not None else None
        self.service.log_check(self, request_id, outcome, status, head.headers, own)
        self.transport.write(data)
        if close:
            self._close()

    def _probe(self, head: RequestHead) -> None:
        service = self.service
        answered = probe(head.target.partition("?")[0], service.ready and not service.draining)
        # Checker.is_probe chose this request, so its path is a probe's: never None
        status, data = answered if answered is not None else (404, b"{}")
        close = not head.keep_alive or service.draining
        reply = status_line(status) + b"content-type: application/json\r\ncontent-length: %d\r\n" % len(data)
        if close:
            reply += b"connection: close\r\n"
        if self.transport is not None and not self.closed:
            self.transport.write(reply + b"\r\n" + (b"" if head.method == "HEAD" else data))
        if close:
            self._close()


def _request_id(head: RequestHead) -> str:
    for lower, _, value in head.special:  # the reader lowered the names it treats specially
        if lower == b"x-request-id" and valid_request_id(value):
            return value.decode("ascii")
    return new_request_id()


def run_authz(
    directory: Path,
    environment: str,
    settings: Settings,
    access_log: IO[str] | None,
    on_ready: Callable[[AuthzService], None] | None = None,
    before_start: Callable[[AuthzRuntime], Awaitable[None]] | None = None,
    reuse_port: bool = False,
    context: StageContext | None = None,
    drain_deadline: float = 10.0,
    run_dir: Path | None = None,
) -> int:
    """Answer checks until SIGTERM or SIGINT; SIGHUP (or the admin API's reload) reloads the contract.
    ``run_dir`` is the workers' shared scratch directory (metric snapshots, the reload epoch)."""
    loop = install_event_loop()
    asyncio.set_event_loop(loop)
    ops = Operations(
        directory,
        environment,
        loop,
        lambda plan: build_authz_runtime(plan, settings, context),
        context,
        run_dir,
        watch=False,  # as before: SIGHUP or POST /admin/reload
    )
    service = AuthzService(loop, ops.load(), AccessLog(access_log), ops)
    ops.install = service.install
    service.reuse_port = reuse_port

    async def start() -> None:
        if before_start is not None:
            await before_start(service.runtime)
        await service.start(settings.listen, settings.admin_listen)
        if on_ready is not None:
            on_ready(service)

    return run_until_stopped(
        loop,
        start,
        lambda: ops.reload("signal"),
        lambda: service.drain(drain_deadline),
        cleanup=metrics.recorder().forget_snapshot,
    )
