"""Browser sign-in behind an ingress: the ingress sends ``/_frontdoor/start``, ``/callback`` and
``/logout`` here as plain requests (no check headers), and the browser gets what ``serve`` would answer
(access/signin.py does the work for both). Only the ingress may ask: it is the peer authz trusts."""

from __future__ import annotations

from collections.abc import Awaitable

from frontdoor.access.cookies import request_cookies
from frontdoor.access.signin import Answer, SignIn
from frontdoor.authz.decide import Outcome, original_scheme
from frontdoor.http.h1 import RequestHead
from frontdoor.http.messages import error_response
from frontdoor.plan import Plan
from frontdoor.policy.denykind import DenyKind


def _forwarded_host(head: RequestHead) -> str:
    for name, value in head.headers:
        if name.lower() == b"x-forwarded-host":
            return value.decode("latin-1").strip()
    return head.host


async def _answer(signin: SignIn, head: RequestHead, owner: str) -> Outcome:
    path, _, query = head.target.partition("?")
    scheme = original_scheme(head)
    answer: Answer = await signin.answer(
        path, query, request_cookies(head), f"{scheme}://{_forwarded_host(head)}", scheme == "https"
    )
    failed = answer.status >= 400
    return Outcome(
        answer.status,
        answer.reason,
        DenyKind.SIGN_IN if failed else "",
        f"sign-in ({answer.outcome})" if failed else "",
        owner=owner,
        answer=answer,
    )


def sign_in(signin: SignIn, head: RequestHead, trusted: bool, plan: Plan) -> Outcome | Awaitable[Outcome]:
    if not trusted:
        return Outcome(403, "only the ingress may ask for decisions", DenyKind.UNTRUSTED_PEER)
    return _answer(signin, head, plan.platform_team)


def sign_in_reply(outcome: Outcome, request_id: str, close: bool, head_only: bool) -> bytes:
    answer = outcome.answer
    assert answer is not None
    return error_response(
        answer.status,
        answer.reason,
        request_id,
        outcome.owner or None,
        close=close,
        extra_headers=answer.headers,
        head_only=head_only,
    )
