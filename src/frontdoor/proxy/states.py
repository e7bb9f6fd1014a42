"""The states of a client connection's parts, named (h11's ``_state.py`` habit): where an exchange
is, and what the connection's one timer runs for. Nothing here is a magic number."""

from __future__ import annotations

import enum
from typing import Final

#: the status logged for a request whose client left before any answer (nginx's "client closed request")
CLIENT_CLOSED: Final = 499


class State(enum.Enum):
    """Where an exchange is. It moves forward only, except CONNECTING again after a failed attempt
    (a retry) and after a stale keep-alive connection (SENT -> CONNECTING, once)."""

    QUEUED = "queued"  # pipelined behind another request: nothing done yet, its body is held
    DECIDING = "deciding"  # routed; the stages decide (an asynchronous one pauses reading)
    CONNECTING = "connecting"  # admitted; an upstream connection is taken or made, the body held
    SENT = "sent"  # the head went upstream, the body follows it straight; awaiting the response
    RESPONDING = "responding"  # the upstream's response is being forwarded
    TUNNEL = "tunnel"  # an accepted WebSocket upgrade: bytes both ways until either side ends
    DONE = "done"  # answered and logged: nothing more happens to it


# The members as module constants, which the request path reads: in CPython 3.11 ``State.SENT`` goes
# through the enum's metaclass (about 140 ns, five times a global), a dozen times per request.
QUEUED: Final = State.QUEUED
DECIDING: Final = State.DECIDING
CONNECTING: Final = State.CONNECTING
SENT: Final = State.SENT
RESPONDING: Final = State.RESPONDING
TUNNEL: Final = State.TUNNEL
DONE: Final = State.DONE

# Tuples, not frozensets: ``in`` compares by identity first, while hashing an Enum member is a Python
# call (enum.__hash__), twice per request on the hot path.
#: before the request's head went upstream: its body is held (up to BUFFER_LIMIT, then reading pauses)
HOLDING: Final = (QUEUED, DECIDING, CONNECTING)
#: the request's head went upstream: its body follows it straight
FORWARDING: Final = (SENT, RESPONDING, TUNNEL)
#: a response (the upstream's) has begun: the gateway can no longer answer with its own error
ANSWERING: Final = (RESPONDING, TUNNEL)
#: the request goes to the upstream as HTTP (not a tunnel): the send timeout applies
SENDING: Final = (SENT, RESPONDING)


class Timeout(enum.Enum):
    """What the connection's one timer is running for: one phase at a time, so one timer serves them
    all (arming one replaces the other). The request body's phase ends before the upstream's begins:
    the upstream timeout starts once the body was read to its end, also when the response began
    before that (an upstream answering early)."""

    NONE = 0
    HEAD = 1  # the next request's head must arrive (header timeout)
    UPSTREAM = 2  # the upstream must answer, then send each next part of its response body
    IDLE = 3  # a keep-alive connection with no request
    BODY = 4  # the next part of the request body must arrive (body timeout), while it is being read
    # the upstream must take more of the request while its write buffer is full (the upstream timeout,
    # nginx's proxy_send_timeout); the upstream's answer timeout starts once it took all of it
    SEND = 5
    # the client must take more of its response while the gateway's write buffer to it is full (the idle
    # timeout, nginx's send_timeout): while it runs, no other phase replaces it
    STALL = 6


NO_TIMEOUT: Final = Timeout.NONE
HEAD_TIMEOUT: Final = Timeout.HEAD
UPSTREAM_TIMEOUT: Final = Timeout.UPSTREAM
IDLE_TIMEOUT: Final = Timeout.IDLE
BODY_TIMEOUT: Final = Timeout.BODY
SEND_TIMEOUT: Final = Timeout.SEND
STALL_TIMEOUT: Final = Timeout.STALL
