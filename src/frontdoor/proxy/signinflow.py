"""The gateway's browser sign-in paths on a client connection (access/signin.py answers them).

A request for one of the reserved sign-in paths is never routed: the gateway answers it itself, after
the sign-in's asynchronous work (a token exchange with the identity provider). Kept out of the
exchange (proxy/exchange.py), which it only borrows: the connection's pause, the gateway's own answer.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from frontdoor.access.cookies import request_cookies
from frontdoor.access.signin import Answer, SignIn
from frontdoor.policy.denykind import DenyKind
from frontdoor.proxy.failures import Failure
from frontdoor.proxy.states import DECIDING

if TYPE_CHECKING:
    from frontdoor.proxy.exchange import Exchange


def sign_in(exchange: Exchange, signin: SignIn, path: str, query: str) -> None:
    """Start answering a sign-in path; reading pauses until the answer is in (as for a pending stage)."""
    client = exchange.client
    head = exchange.head
    secure = client.listener.scheme == "https"
    origin = f"{client.listener.scheme}://{head.host or client.listener.address_text}"
    client.pause("decision")
    answering = signin.answer(path, query, request_cookies(head), origin, secure)
    task: asyncio.Future[Answer] = asyncio.ensure_future(answering, loop=client.loop)
    task.add_done_callback(lambda done: _signed_in(exchange, done))


def _signed_in(exchange: Exchange, done: asyncio.Future[Answer]) -> None:
    client = exchange.client
    client.resume("decision")
    if exchange.state is not DECIDING or client.closed:
        return
    error = None if done.cancelled() else done.exception()
    if done.cancelled() or error is not None:
        client.gateway.report_error("signing in failed", error)
        exchange.fail(Failure.UNDECIDED)
        return
    answer = done.result()
    if answer.status >= 400:
        # logged and counted as what it is; the reason names no cookie, code or token
        exchange.denied_by = f"sign-in ({answer.outcome})"
        exchange.deny_kind = DenyKind.SIGN_IN
    exchange.reject(answer.status, answer.reason, answer.headers)
