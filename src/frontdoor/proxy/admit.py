"""A request's route and the policy stages' decision, up to the head it is forwarded with: what an
exchange (proxy/exchange.py) does when its turn comes, before the upstream attempts.

No route is a 404 (or a 405 naming the methods allowed), a denial is answered with its status and
kind, and a stage that must wait (a key fetch, the Redis rate limit) pauses the client's reading until
its verdict is in. A browser sign-in path is answered by the gateway itself (proxy/signinflow.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Final

from frontdoor.access.cookies import strip_own_cookies
from frontdoor.http.headers import upstream_request
from frontdoor.http.paths import PathError, normalize_path, strip_route_prefix
from frontdoor.http.tracing import fresh_ids, sent_request_id
from frontdoor.policy.admission import Admission, Denial
from frontdoor.policy.denykind import kind_of
from frontdoor.proxy.failures import Failure
from frontdoor.proxy.signinflow import sign_in
from frontdoor.proxy.states import CLIENT_CLOSED, DECIDING

if TYPE_CHECKING:
    from frontdoor.proxy.exchange import Exchange

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_clock: Final = time.monotonic  # the clock of every duration of an exchange (proxy/exchange.py)


def admit(exchange: Exchange) -> None:
    """Route the request and run the stages (the request's turn has come)."""
    exchange.state = DECIDING
    client = exchange.client
    head = exchange.head
    runtime = exchange.runtime
    ids = fresh_ids()
    # a trusted proxy's request id, or a fresh one (asked only of a trusted peer: no call otherwise)
    exchange.request_id = (client.trusted and sent_request_id(head.headers)) or ids[:32]
    if runtime is not client.listener_runtime:
        client.refresh_listener(runtime)  # a reload changes routes for new requests
        exchange.hsts = client.listener.hsts
    listener = client.listener
    if listener.mixed_hsts:  # the entrypoints on this address differ: the one the Host picks says
        exchange.hsts = listener.hsts_for(head.host)
    path, _, query = head.target.partition("?")
    try:
        normalized = normalize_path(path)
    except PathError as error:
        exchange.reject(400, str(error))
        return
    signin = runtime.signin
    if signin is not None and signin.handles(normalized):
        sign_in(exchange, signin, normalized, query)  # proxy/signinflow.py: answered by the gateway
        return
    match = listener.router.match(head.host, normalized, head.method)
    if match.route is None:
        if match.status == 405:
            allow = (b"allow", ", ".join(match.allowed).encode("ascii"))
            exchange.reject(405, f"{head.method} is not allowed here", extra=(allow,))
        else:
            exchange.reject(404, "no route for this host and path")
        return
    route = exchange.route = match.route
    if route.service not in runtime.balancers:
        exchange.fail(Failure.NO_UPSTREAM)
        return
    admission = exchange.admission = Admission(
        head,
        route,
        head.method,
        normalized,
        client.peer,
        listener.trusted,
        exchange.started,  # a moment ago, in this same callback
        client.seen,
        client.certificate,
    )
    admission.secure = listener.scheme == "https"
    admission.target = head.target
    verdict = runtime.pipeline.check(admission)
    if verdict is None:
        _admitted(exchange, admission, normalized, query, ids)
    elif isinstance(verdict, Denial):
        _deny(exchange, verdict)
    else:
        _await(exchange, verdict, normalized, query, ids)


def _await(
    exchange: Exchange, verdict: Awaitable[Denial | None], normalized: str, query: str, ids: str
) -> None:
    """A stage must wait (a key fetch, the Redis rate limit): the verdict is awaited in a task.
    (A function of its own: compiled, a closure makes every call of its enclosing function build an
    environment object and keep its locals there.)"""
    client = exchange.client
    client.pause("decision")  # nothing more is read until this request is decided
    task: asyncio.Future[Denial | None] = asyncio.ensure_future(verdict, loop=client.loop)
    task.add_done_callback(lambda done: _decided(exchange, done, normalized, query, ids))


def _decided(
    exchange: Exchange, done: asyncio.Future[Denial | None], normalized: str, query: str, ids: str
) -> None:
    """A pending decision is in: go on with the request, unless the client went away meanwhile."""
    exchange.client.resume("decision")
    admission = exchange.admission
    assert admission is not None
    if exchange.state is not DECIDING or exchange.client.closed:
        admission.finish(CLIENT_CLOSED)
        return
    error = None if done.cancelled() else done.exception()
    if done.cancelled() or error is not None:
        exchange.client.gateway.report_error("a policy stage failed", error)
        exchange.fail(Failure.UNDECIDED)
        return
    verdict = done.result()
    if verdict is None:
        _admitted(exchange, admission, normalized, query, ids)
    else:
        _deny(exchange, verdict)


def _deny(exchange: Exchange, denial: Denial) -> None:
    exchange.denied_by = denial.rule
    exchange.deny_kind = kind_of(denial)
    exchange.reject(denial.status, denial.reason, denial.headers)


def _admitted(exchange: Exchange, admission: Admission, normalized: str, query: str, ids: str) -> None:
    client = exchange.client
    listener = client.listener
    head = exchange.head
    route = admission.route
    if head.upgrade == "websocket":
        exchange.websocket = True
        exchange.close_after = True  # after a refused upgrade the bytes that follow are not HTTP
        client.accept_upgrade()
    if head.expect_continue:
        client.write(CONTINUE)
    if exchange.runtime.signin is not None:
        strip_own_cookies(head)  # the session is the gateway's: never the upstream's to see
    target = strip_route_prefix(normalized, route.path.path) if route.strip_prefix else normalized
    if query:
        target += "?" + query
    forwarded = upstream_request(
        head,
        target,
        client.peer,
        client.trusted,
        listener.scheme,
        exchange.request_id,
        exchange.websocket,
        identity=admission.upstream_head,
        fallback_host=listener.address_text,
        ids=ids,
        trace=listener.trace,
    )
    exchange.forwarded = forwarded.head
    exchange.traceparent = forwarded.traceparent
    exchange.trace_line = forwarded.trace_line
    exchange.upstream_started = _clock()
    exchange.connect()
