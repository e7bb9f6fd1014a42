"""Request ids and W3C Trace Context (traceparent), sans-IO.

The Edge's ``observability.tracing.propagate`` picks the tracer once per runtime (TRACERS): ``w3c``
continues or starts a trace on every request; ``none`` takes no part, so no traceparent is made up,
and one a client sent is not passed on either. A tracer returns the whole header line (or nothing), so
the request path adds it without asking which tracer it has."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Final

# W3C Trace Context 3.2: version "00" - 32 hex trace-id - 16 hex parent-id - 2 hex flags; all-zero ids invalid
_TRACEPARENT: Final = re.compile(rb"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID: Final = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


_IDS_PER_DRAW: Final = 128


class _Drawn:
    """os.urandom drawn ahead, as hex digits, for the next fresh_ids calls."""

    __slots__ = ("hex", "taken")

    def __init__(self) -> None:
        self.hex = ""
        self.taken = 0

    def forget(self) -> None:
        self.hex = ""
        self.taken = 0


_drawn = _Drawn()


def fresh_ids() -> str:
    """80 random hex digits: a request id [0:32], a trace id [32:64], a span id [64:80].

    They come from os.urandom, drawn for many requests at a time (one system call per 128 requests);
    a forked child starts with a fresh draw of its own, never the parent's."""
    drawn = _drawn
    start = drawn.taken
    if start >= len(drawn.hex):
        drawn.hex = os.urandom(40 * _IDS_PER_DRAW).hex()
        start = 0
    drawn.taken = start + 80
    return drawn.hex[start : start + 80]


os.register_at_fork(after_in_child=_drawn.forget)


def new_request_id() -> str:
    return fresh_ids()[:32]


def valid_request_id(value: bytes) -> bool:
    return _REQUEST_ID.match(value) is not None


#: a tracer: (the client's traceparent or None, fresh_ids() or None) -> the traceparent line to send
def sent_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The X-Request-Id a (trusted) client sent, if valid, else "" (make one)."""
    for name, value in headers:
        if name.lower() == b"x-request-id" and valid_request_id(value):
            return value.decode("ascii")
    return ""


Tracer = Callable[[bytes | None, str | None], bytes]


def traceparent_line(incoming: bytes | None, ids: str | None = None) -> bytes:
    """``propagate: w3c``: the traceparent header line to send upstream and back to the client, the
    caller's trace continued with a new span, or a new trace."""
    fresh = (ids or fresh_ids()).encode("ascii")
    if incoming is not None:
        match = _TRACEPARENT.match(incoming.strip().lower())
        if match and match.group(1) != b"ff" and match.group(2).strip(b"0") and match.group(3).strip(b"0"):
            return b"traceparent: 00-%b-%b-%b\r\n" % (match.group(2), fresh[64:80], match.group(4))
    # one formatting: compiled, cheaper than + chains
    return b"traceparent: 00-%b-%b-01\r\n" % (fresh[32:64], fresh[64:80])


def no_traceparent(incoming: bytes | None, ids: str | None = None) -> bytes:
    """``propagate: none``: no traceparent, neither made up nor the client's passed on."""
    return b""


def traceparent_of(line: bytes) -> bytes:
    """The value of a tracer's line (b"" for none). The request path slices it inline."""
    return line[13:-2]


TRACERS: Final[dict[str, Tracer]] = {"w3c": traceparent_line, "none": no_traceparent}
