"""What the data plane reads per request, built once from a Plan: routers, balancers, pools, limits.

A reload builds a new Runtime and swaps it in; a request keeps the Runtime it started with.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Final

from frontdoor.access.signin import SignIn
from frontdoor.assembly import build_pipeline, signin_of
from frontdoor.contract.models import Retries, Timeouts, UpstreamTls
from frontdoor.contract.values import ListenAddress
from frontdoor.http.h1 import Limits
from frontdoor.http.messages import HSTS
from frontdoor.http.tracing import TRACERS, Tracer, no_traceparent, traceparent_line
from frontdoor.networks import Network, within
from frontdoor.plan import Plan, PlannedEntrypoint, PlannedRoute
from frontdoor.policy.admission import StageContext
from frontdoor.policy.balancing import Balancer, Endpoint
from frontdoor.policy.pipeline import Pipeline
from frontdoor.policy.routing import Router
from frontdoor.protection.counters import RETRY_BUDGET_EXHAUSTED, count
from frontdoor.protection.retrybudget import RetryBudget
from frontdoor.proxy.upstream import Pool
from frontdoor.proxy.upstreamtls import upstream_context

IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_HSTS_LINE: Final = b"strict-transport-security: %s\r\n" % HSTS.encode("ascii")


@dataclass
class Listener:
    """One listening address and the entrypoints that share it (virtual hosts)."""

    address: ListenAddress
    entrypoints: list[PlannedEntrypoint]
    router: Router
    scheme: str  # "https" when the entrypoints terminate TLS
    #: the header line to add to responses, or b"": every entrypoint's ``tls.hsts``, or for a listener
    #: whose entrypoints differ, the line of a host no entrypoint takes (none: see ``hsts_for``)
    hsts: bytes
    trusted: tuple[Network, ...]
    #: the Edge's tracing.propagate, as a tracer chosen once (tracing.TRACERS)
    trace: Tracer = traceparent_line
    #: the entrypoints ask for client certificates (tls.client_auth): each connection reads its own
    client_certificates: bool = False
    address_text: str = field(init=False)  # str(address), once
    #: the entrypoints disagree on hsts: each request's Host chooses (``hsts_for``), else ``hsts`` serves
    mixed_hsts: bool = field(init=False)

    def __post_init__(self) -> None:
        self.address_text = str(self.address)
        self.mixed_hsts = len({hsts_line(e) for e in self.entrypoints}) > 1

    def hsts_for(self, host: str) -> bytes:
        """The HSTS line of the entrypoint ``host`` belongs to (the router's choice); none for a host no
        entrypoint takes. Asked only when the entrypoints disagree (``mixed_hsts``)."""
        table = self.router.table_for(host)
        return hsts_line(table.entrypoint) if table is not None else self.hsts

    def trusts(self, peer: str) -> bool:
        return within(peer, self.trusted)


def hsts_line(entrypoint: PlannedEntrypoint) -> bytes:
    """The Strict-Transport-Security line the entrypoint's answers carry, or b"" without ``tls.hsts``."""
    return _HSTS_LINE if entrypoint.sends_hsts else b""


@dataclass
class Runtime:
    plan: Plan
    listeners: dict[ListenAddress, Listener]
    balancers: dict[str, Balancer]
    # by endpoint, which hashes by identity (eq=False): a dict key without id()'s boxed integer
    pools: dict[Endpoint, Pool] = field(default_factory=dict)
    pipeline: Pipeline = field(default_factory=lambda: Pipeline(()))
    signin: SignIn | None = None  # browser sign-in: /_frontdoor/ paths; own cookies kept from upstreams
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retries: Retries = field(default_factory=Retries)
    #: per service, when retries are on: retries stay a small share of requests (protection/retrybudget.py)
    retry_budgets: dict[str, RetryBudget] = field(default_factory=dict)
    #: the shortest of the header, body, upstream and idle timeouts: how far ahead a connection's timer
    #: is set
    timer_step: float = field(init=False)
    #: those four timeouts as the connection's timer reads them, armed several times a request:
    #: ``timeouts`` is a pydantic model, every attribute read of which is a generic Python lookup
    header_timeout: float = field(init=False)
    body_timeout: float = field(init=False)
    upstream_timeout: float = field(init=False)
    idle_timeout: float = field(init=False)

    def __post_init__(self) -> None:
        timeouts = self.timeouts
        self.header_timeout = timeouts.header
        self.body_timeout = timeouts.body
        self.upstream_timeout = timeouts.upstream
        self.idle_timeout = timeouts.idle
        self.timer_step = min(timeouts.header, timeouts.body, timeouts.upstream, timeouts.idle)

    def retry_allowed(self, route: PlannedRoute | None) -> bool:
        """Whether the route's service has room in its retry budget for one more retry, spending it."""
        budget = self.retry_budgets.get(route.service) if route is not None else None
        if budget is None or budget.allow_retry(time.monotonic()):
            return True
        count(RETRY_BUDGET_EXHAUSTED, route.service if route is not None else "")
        return False

    def pool(self, endpoint: Endpoint) -> Pool:
        return self.pools[endpoint]

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def build_runtime(
    plan: Plan, loop: asyncio.AbstractEventLoop, context: StageContext | None = None
) -> Runtime:
    protection = plan.edge.spec.protection
    grouped: dict[ListenAddress, list[PlannedEntrypoint]] = {}
    for entrypoint in plan.entrypoints:
        grouped.setdefault(entrypoint.listen, []).append(entrypoint)
    listeners = {}
    tracing = plan.edge.spec.observability.tracing if plan.edge.spec.observability else None
    # an Edge without a tracing block takes no part in traces, as the verdict says ("off")
    trace = TRACERS[tracing.propagate] if tracing is not None else no_traceparent
    for address, entrypoints in grouped.items():
        tls = entrypoints[0].tls  # all or none use TLS, with one min_version and client_auth (the contract)
        lines = [hsts_line(e) for e in entrypoints]
        hsts = lines[0] if all(lines) else b""  # a host no entrypoint takes: HSTS only if all say so
        trusted = tuple(n for e in entrypoints for n in e.trusted_proxies)
        listeners[address] = Listener(
            address,
            entrypoints,
            Router(entrypoints),
            "https" if tls else "http",
            hsts,
            trusted,
            trace,
            client_certificates=bool(tls and tls.client_auth),
        )
    balancers = {}
    pools = {}
    contexts: dict[UpstreamTls, ssl.SSLContext] = {}  # one per distinct tls block
    for service, upstreams in plan.upstreams.items():
        endpoints = [Endpoint(u.url.host, u.url.port, u.weight, u.url.scheme) for u in upstreams]
        balancers[service] = Balancer(endpoints)
        for endpoint, upstream in zip(endpoints, upstreams, strict=True):
            wanted = upstream.tls
            client_tls = None
            if wanted is not None:
                client_tls = contexts.get(wanted)
                if client_tls is None:
                    client_tls = contexts[wanted] = upstream_context(wanted, plan.environment_doc)
            server_name = wanted.server_name if wanted is not None else None
            pools[endpoint] = Pool(endpoint, protection.timeouts.connect, loop, client_tls, server_name)
    pipeline = build_pipeline(plan, context)
    return Runtime(
        plan=plan,
        listeners=listeners,
        balancers=balancers,
        pools=pools,
        pipeline=pipeline,
        signin=signin_of(pipeline),
        limits=Limits(protection.max_header_bytes, 100, protection.max_request_body),
        timeouts=protection.timeouts,
        retries=protection.retries,
        retry_budgets=(
            {service: RetryBudget(now=time.monotonic()) for service in balancers}
            if protection.retries.attempts > 1
            else {}
        ),
    )
