"""Request ids and W3C Trace Context (traceparent), sans-IO."""

from __future__ import annotations

import os
import re

# W3C Trace Context 3.2: version "00" - 32 hex trace-id - 16 hex parent-id - 2 hex flags; all-zero ids invalid
_TRACEPARENT = re.compile(rb"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


def fresh_ids() -> str:
    """80 hex digits from one system call: a request id [0:32], a trace id [32:64], a span id [64:80]."""
    return os.urandom(40).hex()


def new_request_id() -> str:
    return os.urandom(16).hex()


def valid_request_id(value: bytes) -> bool:
    return _REQUEST_ID.match(value) is not None


def next_traceparent(incoming: bytes | None, ids: str | None = None) -> bytes:
    """The traceparent to send upstream: the caller's trace continued with a new span, or a new trace.
    ``ids`` (from fresh_ids) supplies the new trace and span ids."""
    fresh = (ids or fresh_ids()).encode("ascii")
    if incoming is not None:
        match = _TRACEPARENT.match(incoming.strip().lower())
        if match and match.group(1) != b"ff" and match.group(2).strip(b"0") and match.group(3).strip(b"0"):
            return b"00-" + match.group(2) + b"-" + fresh[64:80] + b"-" + match.group(4)
    return b"00-" + fresh[32:64] + b"-" + fresh[64:80] + b"-01"
