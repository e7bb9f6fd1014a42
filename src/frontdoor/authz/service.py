"""``frontdoor authz``: the check listener, its connections, reload and drain.

A connection is a protocol with callbacks, as in ``serve``: a check that every stage decides at once is
answered from ``data_received``; only a stage that waits on I/O makes a task, and the connection then
reads nothing more until that check is answered (answers keep the order of the requests).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from frontdoor.authz.answers import allow, answer_status, deny
from frontdoor.authz.decide import LOOPBACK, Checker, Outcome, chosen_entrypoints
from frontdoor.contract.models import Timeouts
from frontdoor.contract.values import ListenAddress
from frontdoor.errors import FrontdoorError
from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import Limits, RequestHead, RequestReader
from frontdoor.http.messages import error_response, status_line
from frontdoor.http.tracing import new_request_id, valid_request_id
from frontdoor.plan import Plan
from frontdoor.policy.killswitch import route_id
from frontdoor.policy.pipeline import Network, StageContext, build_pipeline
from frontdoor.proxy.lifecycle import run_until_stopped
from frontdoor.proxy.server import AccessLog, install_event_loop, load_plan

log = logging.getLogger("frontdoor.authz")


@dataclass(frozen=True)
class Settings:
    """What the command line says, beyond the contract."""

    listen: ListenAddress
    dialect: str = "auto"
    path_prefix: str = ""
    trusted: tuple[Network, ...] = LOOPBACK
    entrypoint: str | None = None


@dataclass
class AuthzRuntime:
    """Built once per contract load; a reload builds a new one."""

    plan: Plan
    checker: Checker
    limits: Limits
    timeouts: Timeouts


def build_authz_runtime(plan: Plan, settings: Settings, context: StageContext | None = None) -> AuthzRuntime:
    try:
        chosen_entrypoints(plan, settings.entrypoint, settings.path_prefix)  # before any stage is built
        checker = Checker(
            plan,
            build_pipeline(plan, context),
            settings.trusted,
            settings.dialect,
            settings.path_prefix,
            settings.entrypoint,
        )
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    protection = plan.edge.spec.protection
    return AuthzRuntime(
        plan,
        checker,
        Limits(protection.max_header_bytes, 100, protection.max_request_body),
        protection.timeouts,
    )


class AuthzService:
    def __init__(self, loop: asyncio.AbstractEventLoop, runtime: AuthzRuntime, access_log: AccessLog) -> None:
        self.loop = loop
        self.runtime = runtime
        self.access_log = access_log
        self.connections: set[AuthzConnection] = set()
        self.server: asyncio.Server | None = None
        self.ready = False
        self.draining = False
        self.reuse_port = False

    async def start(self, address: ListenAddress) -> None:
        try:
            self.server = await self.loop.create_server(
                lambda: AuthzConnection(self),
                address.host,
                address.port,
                reuse_port=self.reuse_port,
                backlog=4096,
            )
        except OSError as exc:
            raise FrontdoorError(f"cannot listen on {address}: {exc.strerror or exc}") from None
        log.info("authz listening on %s", address)
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
                "method": original.method if original is not None else None,
                "host": original.host if original is not None else None,
                "path": original.target.partition("?")[0] if original is not None else None,
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
        if self.server is not None:
            self.server.close()
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
        "last_data",
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
        self.last_data = 0.0
        self.mid_request = True  # bytes of a request head are expected (the header timeout applies)
        self.timer: asyncio.TimerHandle | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        runtime = self.service.runtime
        self.trusted = runtime.checker.trusts(self.peer)
        self.reader = RequestReader(self, runtime.limits)
        self.service.connections.add(self)
        self.last_data = self.service.loop.time()
        self._arm(runtime.timeouts)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.service.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def data_received(self, data: bytes) -> None:
        self.last_data = self.service.loop.time()
        self.mid_request = True
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

    # --- timeouts: one timer, re-armed only when it fires early --------------------------------------

    def _arm(self, timeouts: Timeouts) -> None:
        step = min(timeouts.header, timeouts.idle)
        self.timer = self.service.loop.call_at(self.last_data + step, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed:
            return
        timeouts = self.service.runtime.timeouts
        limit = timeouts.header if self.mid_request else timeouts.idle
        if self.busy or self.service.loop.time() < self.last_data + limit:
            self.timer = self.service.loop.call_at(
                max(self.last_data + limit, self.service.loop.time() + 0.05), self._on_timer
            )
            return
        if self.mid_request and self.transport is not None:  # a head that never completed, as serve
            reason = "the request head did not arrive in time"
            self.transport.write(error_response(408, reason, new_request_id(), close=True))
        self._close()

    # --- requests (RequestSink) ----------------------------------------------------------------------

    def on_request_head(self, head: RequestHead) -> None:
        self.mid_request = False
        if self.busy:
            self.waiting.append(head)
            return
        self._answer(head)

    def on_request_body(self, chunk: bytes) -> None:
        pass  # decisions never depend on a body: it is read and dropped

    def on_request_end(self) -> None:
        pass

    def _answer(self, head: RequestHead) -> None:
        service = self.service
        checker = service.runtime.checker
        if checker.is_probe(head):
            self._probe(head)
            return
        result = checker.check(head, self.peer, self.trusted)
        if isinstance(result, Outcome):
            self._reply(head, result)
            return
        self.busy = True
        if self.transport is not None:
            self.transport.pause_reading()
        task = asyncio.ensure_future(result, loop=service.loop)
        task.add_done_callback(lambda done: self._decided(head, done))

    def _decided(self, head: RequestHead, done: asyncio.Future[Outcome]) -> None:
        self.busy = False
        if self.closed:
            return
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            self.service.report_error("a policy stage failed", error)
            self._reply(head, Outcome(503, "the gateway could not decide this request", "error"))
        else:
            self._reply(head, done.result())
        while self.waiting and not self.busy and not self.closed:
            self._answer(self.waiting.pop(0))
        if self.busy or self.closed or self.transport is None:
            return
        if self.failed is not None:
            self.transport.write(self.failed)
            self._close()
            return
        self.transport.resume_reading()

    def _reply(self, head: RequestHead, outcome: Outcome) -> None:
        if self.transport is None or self.closed:
            return
        close = not head.keep_alive or self.service.draining
        request_id = _request_id(head)
        original = outcome.original
        dialect = original.dialect if original is not None else None
        if outcome.status == 200:
            data, status = allow(outcome, close), 200
        else:
            status = answer_status(outcome, dialect)
            data = deny(outcome, dialect, request_id, close, head.method == "HEAD")
        self.service.log_check(self, request_id, outcome, status, head.headers)
        self.transport.write(data)
        if close:
            self._close()

    def _probe(self, head: RequestHead) -> None:
        service = self.service
        body: dict[str, object]
        if head.target.startswith("/healthz"):
            status, body = 200, {"status": "ok"}
        else:
            ready = service.ready and not service.draining
            status, body = (200 if ready else 503), {"ready": ready}
        data = json.dumps(body).encode()
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
) -> int:
    """Answer checks until SIGTERM or SIGINT; SIGHUP reloads the contract."""
    loop = install_event_loop()
    asyncio.set_event_loop(loop)

    def load() -> AuthzRuntime:
        return build_authz_runtime(load_plan(directory, environment), settings, context)

    service = AuthzService(loop, load(), AccessLog(access_log))
    service.reuse_port = reuse_port

    def reload() -> None:
        try:
            service.runtime = load()
            log.info("reloaded the contract from %s", directory)
        except FrontdoorError as exc:
            log.error("reload refused, the previous contract keeps deciding: %s", exc)

    async def start() -> None:
        if before_start is not None:
            await before_start(service.runtime)
        await service.start(settings.listen)
        if on_ready is not None:
            on_ready(service)

    return run_until_stopped(loop, start, reload, lambda: service.drain(drain_deadline))
