"""The gateway process: listeners for every entrypoint, the admin listener, reload and drain."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Final

from frontdoor.access.apiclients import load_api_clients
from frontdoor.contract.values import ListenAddress
from frontdoor.errors import FrontdoorError
from frontdoor.http.errors import ProtocolError
from frontdoor.lifecycle import install_event_loop, run_until_stopped
from frontdoor.observe import metrics, otlp
from frontdoor.observe.accesslog import (
    NO_FAILURE,
    UNROUTED,
    AccessLog,
    failure_field,
    route_fields,
    who_fields,
)
from frontdoor.observe.adminlistener import AdminProtocol
from frontdoor.observe.control import Operations
from frontdoor.observe.otlp import SpanExport
from frontdoor.observe.traffic import RouteKey
from frontdoor.plan import Plan, PlannedRoute, load_plan
from frontdoor.policy.admission import StageContext
from frontdoor.policy.balancing import Endpoint
from frontdoor.policy.killswitch import route_id
from frontdoor.protection.shedding import GuardStage
from frontdoor.proxy.alpn import AlpnSwitch
from frontdoor.proxy.downstream import Downstream
from frontdoor.proxy.exchange import Exchange
from frontdoor.proxy.failures import Failure
from frontdoor.proxy.h2connection import ClientH2
from frontdoor.proxy.health import HealthChecker
from frontdoor.proxy.runtime import Runtime, build_runtime
from frontdoor.proxy.tls import server_context

log = logging.getLogger("frontdoor.gateway")
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii
_clock: Final = time.monotonic  # bound once: the access log reads it for every request
#: the access log's ``upstream_failure`` field of each failure (``body-stalled``)
_FAILURE_FIELDS: Final = {f: failure_field(f.name.lower().replace("_", "-")) for f in Failure}


class Gateway:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        runtime: Runtime,
        access_log: AccessLog,
        health_interval: float = 5.0,
        ops: Operations[Runtime] | None = None,
    ) -> None:
        self.loop = loop
        self.runtime = runtime
        self.access_log = access_log
        access_log.configure(runtime.plan.edge.spec.observability)
        self.health_interval = health_interval
        self.ops = ops
        self.recorder = metrics.recorder()
        self.recorder.inflight = self.inflight
        self.recorder.circuits = self.circuits
        self.spans: SpanExport | None = None  # OTLP export, when the otel extra is set up (observe/otlp.py)
        # Workers share each port with SO_REUSEPORT; a single process binds alone, so a second
        # gateway started by mistake on the same ports fails instead of silently taking half the traffic.
        self.reuse_port = False
        self.health = HealthChecker(runtime, health_interval, loop)
        self.connections: set[Downstream] = set()
        # HTTP/2 client connections (their streams' Downstreams are in ``connections``): told at a drain
        self.h2_connections: set[ClientH2] = set()
        # per route (by id, the object kept so that an id is never reused while it is here): the access
        # log's JSON for it and its metric labels; per endpoint its JSON. Emptied at each reload.
        self._route_info: dict[int, tuple[PlannedRoute, str, RouteKey]] = {}
        self._endpoint_json: dict[Endpoint, str] = {}  # by endpoint: it hashes by identity (eq=False)
        self._unmatched = self._unmatched_info()
        self.servers: list[asyncio.Server] = []
        self.draining = False
        self.ready = False

    # --- the request path's hooks --------------------------------------------------------------------

    def _describe(self, route: PlannedRoute) -> tuple[PlannedRoute, str, RouteKey]:
        rid = route_id(route)
        path = str(route.path)
        view = self.ops.view if self.ops is not None else None
        clause = view.clauses.get(rid) if view is not None else None
        routed = route_fields(rid, path, route.service, route.owner, clause)
        info = self._route_info[id(route)] = (route, routed, (rid, path, route.service, route.owner))
        return info

    def _unmatched_info(self) -> tuple[str, RouteKey]:
        owner = self.runtime.plan.platform_team  # the gateway answered: the platform team explains it
        return (UNROUTED, ("unmatched", "", "", owner))

    def inflight(self) -> dict[str, int]:
        """Requests being answered now, by service (asked once a second by the metrics tick)."""
        counts: dict[str, int] = {}
        for connection in self.connections:
            current = connection.current
            if current is not None and current.route is not None:
                service = current.route.service
                counts[service] = counts.get(service, 0) + 1
        return counts

    def circuits(self) -> dict[tuple[str, str], int]:
        """The circuit breakers' states, from the stages that report one (asked once a second)."""
        states: dict[tuple[str, str], int] = {}
        for stage in self.runtime.pipeline.stages:
            if isinstance(stage, GuardStage):  # the one stage with circuit breakers
                for service, guard in stage.guards.items():
                    if guard.breaker is not None:
                        states[(service, "")] = metrics.CIRCUIT_STATES[guard.breaker.state]
        return states

    def log_request(self, downstream: Downstream, request: Exchange) -> None:
        """The request is over: count it, and log it (observe/accesslog.py makes the line). What depends
        only on the route or the endpoint is made once per route or endpoint."""
        now = _clock()
        head = request.head
        route = request.route
        status = request.status
        denied_by = request.denied_by
        if route is not None:
            info = self._route_info.get(id(route))
            if info is None or info[0] is not route:
                info = self._describe(route)
            routed = info[1]
            key = info[2]
            failure = request.failure
            upstream_error = failure.label if failure is not None else ""  # proxy/failures.py names them
        else:
            routed, key = self._unmatched
            upstream_error = ""
            failure = None
        seconds = now - request.started
        opened = request.tunnel_opened
        # A WebSocket tunnel counts as one request, whose latency is the wait for the 101: its life
        # (minutes, hours) would swamp the duration histogram and the latency SLOs built on it.
        self.recorder.record(
            key,
            head.method,
            status,
            opened - request.started if opened else seconds,
            request.deny_kind,
            denied_by,
            upstream_error,
            head.version,
        )
        if self.spans is not None:
            self.spans.export(request, key[0] if route is not None else None, seconds)
        access_log = self.access_log
        if not access_log.on:  # no stream, or the Edge declares no access_log
            return
        endpoint = request.endpoint
        if endpoint is not None:
            upstream = self._endpoint_json.get(endpoint)
            if upstream is None:
                upstream = self._endpoint_json[endpoint] = _string(endpoint.label)
        else:
            upstream = "null"
        admission = request.admission
        if admission is not None:
            path = admission.path
            # the address X-Forwarded-For gives only behind a trusted proxy; the peer otherwise (no call)
            client = admission.client_address() if admission.trusted_proxies else admission.peer
            who = who_fields(admission.subject, admission.api_client, denied_by, request.deny_kind)
        else:
            path = head.target.partition("?")[0]
            client = downstream.peer
            who = who_fields(None, None, denied_by, request.deny_kind)
        started = request.upstream_started
        access_log.request(
            request.request_id,
            request.traceparent,
            client,
            head.method,
            head.version,
            head.host,
            path,
            head.target,
            status,
            request.bytes_out,
            seconds,
            now - started if started else -1.0,
            routed,
            upstream,
            request.attempts,
            who,
            head.headers,
            NO_FAILURE if failure is None else _FAILURE_FIELDS[failure],
            request.bytes_in if opened else -1,
        )

    def report_error(self, what: str, error: BaseException | None) -> None:
        """An unexpected failure inside the gateway: logged with its traceback, never shown to a client."""
        log.error("%s", what, exc_info=error)

    def log_protocol_error(self, downstream: Downstream, error: ProtocolError) -> None:
        # no request head to label it by: counted as unmatched, method "other"
        self.recorder.record(self._unmatched[1], "other", error.status, 0.0)
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
        if self.ops is not None:
            await self.ops.read_stops()  # a stop in force applies from the first request
        for address, listener in self.runtime.listeners.items():
            tls = listener.entrypoints[0].tls
            context = server_context(listener.entrypoints, self.runtime.plan) if tls else None
            # TLS: HTTP/2 or HTTP/1.1, as the client chose by ALPN; plain: HTTP/1.1 only (no h2c)
            protocol = AlpnSwitch if context is not None else Downstream
            server = await self._listen(address, functools.partial(protocol, self, listener), context)
            self.servers.append(server)
            log.info("listening on %s (%s)", address, ", ".join(e.name for e in listener.entrypoints))
        admin = self.runtime.plan.edge.spec.admin
        if admin is not None:
            self.servers.append(await self._listen(admin.listen, lambda: AdminProtocol(self), None))
            log.info("admin listening on %s", admin.listen)
            if not admin.listen.is_loopback:
                log.warning("the admin listener %s is reachable beyond loopback, without TLS", admin.listen)
        self.health.start()
        self._flush_log()
        if self.ops is not None:
            self.ops.start()
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
        if [e.tls for e in runtime.plan.entrypoints] != [e.tls for e in old.plan.entrypoints]:
            # the listeners' TLS contexts are built at start (certificate files are watched, not this)
            log.warning(
                "entrypoint tls settings changed (min_version, certificates, client_auth): they take "
                "effect at the next restart"
            )
        self.runtime = runtime
        self.access_log.configure(runtime.plan.edge.spec.observability)
        self._route_info = {}
        self._endpoint_json = {}
        self._unmatched = self._unmatched_info()
        self.health.stop()
        self.health = HealthChecker(runtime, self.health_interval, self.loop)
        self.health.start()
        self.loop.call_later(old.timeouts.upstream + 1, old.close)

    async def drain(self, deadline: float) -> None:
        """Stop accepting, let in-flight requests finish until ``deadline`` seconds, then close."""
        self.draining = True
        self.ready = False
        self.health.stop()
        if self.ops is not None:
            self.ops.stop()
        for server in self.servers:
            server.close()
        for connection in list(self.connections):
            connection.shutdown()
        for client in list(self.h2_connections):
            client.shutdown()
        end = self.loop.time() + deadline
        while self.connections and self.loop.time() < end:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            # logged now: the log's last flush below comes before asyncio would report them lost
            connection.log_unfinished()
            connection.abort()
        self.runtime.close()
        self.access_log.flush()
        if self.spans is not None:
            self.spans.shutdown()


def check_servable(directory: Path, environment: str) -> Plan:
    """The environment's Plan; raise FrontdoorError unless the contract is valid and it compiles."""
    plan = load_plan(directory, environment)
    # secrets the stages need at start: an unreadable one is reported once, not by every worker
    load_api_clients(plan.edge.spec.identity, plan.environment_doc)
    return plan


def load_runtime(
    directory: Path,
    environment: str,
    loop: asyncio.AbstractEventLoop,
    context: StageContext | None = None,
) -> Runtime:
    """The contract, validated and compiled; raises FrontdoorError with every error if it is invalid."""
    return build_runtime(load_plan(directory, environment), loop, context)


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
    run_dir: Path | None = None,
    watch: bool = False,
) -> int:
    """Run the gateway until SIGTERM or SIGINT; SIGHUP, POST /admin/reload or (with ``watch``) an edit
    of the contract directory reloads the contract. ``run_dir`` is the deployment's shared scratch
    directory (the workers' metric snapshots, the reload epoch)."""
    loop = install_event_loop()
    asyncio.set_event_loop(loop)
    ops = Operations(
        directory, environment, loop, lambda plan: build_runtime(plan, loop, context), context, run_dir, watch
    )
    runtime = ops.load()
    gateway = Gateway(loop, runtime, AccessLog(access_log), health_interval, ops)
    ops.install = gateway.reload
    gateway.spans = otlp.from_environment()
    gateway.reuse_port = reuse_port

    async def start() -> None:
        if before_start is not None:
            await before_start(runtime)
        await gateway.start()
        if on_ready is not None:
            on_ready(gateway)

    return run_until_stopped(
        loop,
        start,
        lambda: ops.reload("signal"),
        lambda: gateway.drain(drain_deadline),
        cleanup=metrics.recorder().forget_snapshot,
    )
