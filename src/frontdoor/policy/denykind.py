"""The short machine names of a denial: one set, read by ``serve`` (access log ``deny_kind``, metrics)
and by ``authz`` (``X-Frontdoor-Deny``), so that the two cannot name the same deny differently.

Every stage names its denials with one of these (``Denial.kind``); nothing parses a rule's text.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frontdoor.policy.admission import Denial


class DenyKind(enum.StrEnum):
    # what the policy stages decide
    ACCESS = "access"  # no token, a bad one, a missing scope or claim, an unknown API key
    SIGN_IN = "sign-in"  # a browser without a session, sent to sign in (a redirect, not an error)
    RATE_LIMIT = "rate-limit"
    RATE_LIMIT_STORE = "rate-limit-store"  # the shared store is down and the Edge says deny
    SHED = "shed"  # max_inflight_per_service reached
    CIRCUIT_OPEN = "circuit-open"
    KILL_SWITCH = "kill-switch"
    # what authz answers for a check it cannot route or read (serve answers these as plain errors)
    BAD_REQUEST = "bad-request"
    NO_ROUTE = "no-route"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    BAD_CHECK = "bad-check"
    UNTRUSTED_PEER = "untrusted-peer"
    ERROR = "error"  # a stage failed: nothing was decided
    # what a rendered nginx answers itself (render/nginx_conf.py)
    BODY_TOO_LARGE = "body-too-large"
    HEADER_TOO_LARGE = "header-too-large"
    DENIED = "denied"  # a stage that named no kind (a stage added without one)


def kind_of(denial: Denial) -> str:
    """The kind a denial is logged and answered with."""
    return denial.kind or DenyKind.DENIED
