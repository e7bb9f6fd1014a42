"""The gateway process: listeners for every entrypoint, the admin listener, reload and drain."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import signal
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Final

from frontdoor.access.apiclients import load_api_clients
from frontdoor.contract.load import load_contract
from frontdoor.contract.values import ListenAddress
from frontdoor.errors import FrontdoorError
from frontdoor.http.errors import ProtocolError
from frontdoor.plan import Plan, PlannedRoute, compile_plan
from frontdoor.policy.balancing import Endpoint
from frontdoor.policy.pipeline import StageContext
from frontdoor.proxy.admin import AdminProtocol
from frontdoor.proxy.downstream import Downstream, Request
from frontdoor.proxy.health import HealthChecker
from frontdoor.proxy.runtime import Runtime, build_runtime
from frontdoor.proxy.tls import server_context

log = logging.getLogger("frontdoor.gateway")
# json's string encoder (the C one when available), as JSONEncoder uses it with ensure_ascii
_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


class AccessLog:
    """One JSON object a line per request; headers are never logged, so nothing needs redacting here.

    Lines are buffered and written every FLUSH_S seconds (or every BATCH lines): a write and a flush per
    request cost more than the rest of the log line. ``close`` writes what is left.
    """

    FLUSH_S: Final = 0.25
    BATCH: Final = 512

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.lines: list[str] = []
        self.encode = json.JSONEncoder(separators=(",", ":")).encode
        self._second = -1
        self._stamp = ""

    def now(self) -> str:
        """The time, to the second, formatted once a second rather than once a request."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._stamp

    def write(self, record: dict[str, object]) -> None:
        if self.stream is not None:
            self.add(self.encode(record))

    def add(self, line: str) -> None:
        """Queue one encoded line."""
        lines = self.lines
        lines.append(line)
        if len(lines) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.lines and self.stream is not None:
            self.lines.append("")
            self.stream.write("\n".join(self.lines))
            self.stream.flush()
            self.lines.clear()


class Gateway:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        runtime: Runtime,
        access_log: AccessLog,
        health_interval: float = 5.0,
    ) -> None:
        self.loop = loop
        self.runtime = runtime
        self.access_log = access_log
        self.health_interval = health_interval
        # Workers share each port with SO_REUSEPORT; a single process binds alone, so a second
        # gateway started by mistake on the same ports fails instead of silently taking half the traffic.
        self.reuse_port = False
        self.health = HealthChecker(runtime, health_interval, loop)
        self.connections: set[Downstream] = set()
        # the access log's JSON for a route and an endpoint, by id (the object kept, so an id is never
        # reused while it is here); emptied at each reload
        self._route_json: dict[int, tuple[PlannedRoute, str]] = {}
        self._endpoint_json: dict[int, tuple[Endpoint, str]] = {}
        self.servers: list[asyncio.Server] = []
        self.draining = False
        self.ready = False

    # --- the request path's hooks --------------------------------------------------------------------

    def log_request(self, downstream: Downstream, request: Request) -> None:
        # The same object json would encode from a dict with these keys in this order, built directly:
        # every string goes through json's own (C) string encoder, numbers are formatted as json does.
        access_log = self.access_log
        if access_log.stream is None:
            return
        head = request.head
        route = request.route
        endpoint = request.endpoint
        denied_by = request.denied_by
        if route is not None:
            known = self._route_json.get(id(route))
            if known is not None and known[0] is route:
                routed = known[1]
            else:
                routed = (
                    f'"route":{_string(str(route.path))},"service":{_string(route.service)},'
                    f'"owner":{_string(route.owner)}'
                )
                self._route_json[id(route)] = (route, routed)
        else:
            routed = '"route":null,"service":null,"owner":null'
        if endpoint is not None:
            label = self._endpoint_json.get(id(endpoint))
            if label is None or label[0] is not endpoint:
                label = self._endpoint_json[id(endpoint)] = (endpoint, _string(endpoint.label))
            upstream = label[1]
        else:
            upstream = "null"
        access_log.add(
            f'{{"time":{_string(access_log.now())},"request_id":{_string(request.request_id)},'
            f'"client":{_string(downstream.peer)},"method":{_string(head.method)},'
            f'"host":{_string(head.host)},"path":{_string(head.target.partition("?")[0])},'
            f'"status":{int(request.status)!r},"bytes":{int(request.bytes_out)!r},'
            f'"duration_ms":{round((time.monotonic() - request.started) * 1000, 2)!r},{routed},'
            f'"upstream":{upstream},'
            f'"attempts":{int(request.attempts)!r},'
            f'"denied_by":{_string(denied_by) if denied_by else "null"}}}'
        )

    def report_error(self, what: str, error: BaseException | None) -> None:
        """An unexpected failure inside the gateway: logged with its traceback, never shown to a client."""
        log.error("%s", what, exc_info=error)

    def log_protocol_error(self, downstream: Downstream, error: ProtocolError) -> None:
        self.access_log.write(
            {
                "time": self.access_log.now(),
                "client": downstream.peer,
                "status": error.status,
                "error": error.reason,
            }
        )

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        for address, listener in self.runtime.listeners.items():
            tls = listener.entrypoints[0].tls
            context = server_context(tls, self.runtime.plan) if tls else None
            server = await self._listen(address, functools.partial(Downstream, self, listener), context)
            self.servers.append(server)
            log.info("listening on %s (%s)", address, ", ".join(e.name for e in listener.entrypoints))
        admin = self.runtime.plan.edge.spec.admin
        if admin is not None:
            self.servers.append(await self._listen(admin.listen, lambda: AdminProtocol(self), None))
            log.info("admin listening on %s", admin.listen)
        self.health.start()
        self._flush_log()
        # Everything built so far (the contract, the plan, the runtime) lives as long as the process:
        # leave it out of every later collection, which then only looks at what requests allocate.
        gc.collect()
        gc.freeze()
        self.ready = True

    def _flush_log(self) -> None:
        self.access_log.flush()
        if not self.draining:
            self.loop.call_later(AccessLog.FLUSH_S, self._flush_log)

    async def _listen(
        self, address: ListenAddress, factory: Callable[[], asyncio.Protocol], context: ssl.SSLContext | None
    ) -> asyncio.Server:
        try:
            return await self.loop.create_server(
                factory, address.host, address.port, ssl=context, reuse_port=self.reuse_port, backlog=4096
            )
        except OSError as exc:
            raise FrontdoorError(f"cannot listen on {address}: {exc.strerror or exc}") from None

    def reload(self, runtime: Runtime) -> None:
        """New requests use ``runtime``; those in flight finish on the one they started with."""
        old = self.runtime
        if (
            set(runtime.listeners) != set(old.listeners)
            or runtime.plan.edge.spec.admin != old.plan.edge.spec.admin
        ):
            log.warning("listen addresses changed: they take effect at the next restart")
        self.runtime = runtime
        self._route_json = {}
        self._endpoint_json = {}
        self.health.stop()
        self.health = HealthChecker(runtime, self.health_interval, self.loop)
        self.health.start()
        self.loop.call_later(old.timeouts.upstream + 1, old.close)

    async def drain(self, deadline: float) -> None:
        """Stop accepting, let in-flight requests finish until ``deadline`` seconds, then close."""
        self.draining = True
        self.ready = False
        self.health.stop()
        for server in self.servers:
            server.close()
        for connection in list(self.connections):
            connection.shutdown()
        end = self.loop.time() + deadline
        while self.connections and self.loop.time() < end:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        self.runtime.close()
        self.access_log.flush()


def check_servable(directory: Path, environment: str) -> Plan:
    """The environment's Plan; raise FrontdoorError unless the contract is valid and it compiles."""
    plan = load_plan(directory, environment)
    # secrets the stages need at start: an unreadable one is reported once, not by every worker
    load_api_clients(plan.edge.spec.identity, plan.environment_doc)
    return plan


def load_plan(directory: Path, environment: str) -> Plan:
    """The contract, validated and compiled; raises FrontdoorError with every error if it is invalid."""
    result = load_contract(directory)
    errors = [f for f in result.findings if f.severity == "error"]
    if errors:
        raise FrontdoorError("the contract is invalid:\n" + "\n".join(f.render() for f in errors))
    return compile_plan(result.contract, environment)


def load_runtime(
    directory: Path,
    environment: str,
    loop: asyncio.AbstractEventLoop,
    context: StageContext | None = None,
) -> Runtime:
    """The contract, validated and compiled; raises FrontdoorError with every error if it is invalid."""
    return build_runtime(load_plan(directory, environment), loop, context)


def install_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(
    directory: Path,
    environment: str,
    access_log: IO[str] | None,
    on_ready: Callable[[Gateway], None] | None = None,
    drain_deadline: float = 10.0,
    before_start: Callable[[Runtime], Awaitable[None]] | None = None,
    health_interval: float = 5.0,
    reuse_port: bool = False,
    context: StageContext | None = None,
) -> int:
    """Run the gateway until SIGTERM or SIGINT; SIGHUP reloads the contract."""
    loop = install_event_loop()
    asyncio.set_event_loop(loop)
    runtime = load_runtime(directory, environment, loop, context)
    gateway = Gateway(loop, runtime, AccessLog(access_log), health_interval)
    gateway.reuse_port = reuse_port
    stop = asyncio.Event()

    def reload() -> None:
        try:
            gateway.reload(load_runtime(directory, environment, loop, context))
            log.info("reloaded the contract from %s", directory)
        except FrontdoorError as exc:
            log.error("reload refused, the previous contract keeps serving: %s", exc)

    async def main() -> None:
        if before_start is not None:
            await before_start(runtime)
        await gateway.start()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, reload)
        if on_ready is not None:
            on_ready(gateway)
        await stop.wait()
        log.info("draining")
        await gateway.drain(drain_deadline)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return 0
