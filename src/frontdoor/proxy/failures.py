"""Why the gateway answered a routed request itself, and why an upstream connection went away: typed,
each mapped here, once, to what the client, the access log and the metrics see.

Nothing else decides a status from a failure: the exchange answers ``failure.status`` with
``failure.reason``, the access log and the metrics label it ``failure.label`` (``upstream_error``).
"""

from __future__ import annotations

import enum


class Failure(enum.Enum):
    """A routed, admitted request the gateway could not get answered upstream."""

    # value: (status, the reason the client reads, the log's and metrics' upstream_error)
    NO_UPSTREAM = (503, "the service has no upstream in this environment", "unavailable")
    UNDECIDED = (503, "the gateway could not decide this request", "unavailable")  # a stage failed
    NO_ENDPOINT = (503, "no upstream endpoint is available", "unavailable")
    CONNECT_TIMEOUT = (504, "the upstream could not be reached (connect timeout)", "timeout")
    CONNECT_FAILED = (
        502,
        "the upstream could not be reached (connect failed)",
        "error",
    )  # refused, unreachable
    CONNECT_CANCELLED = (
        502,
        "the upstream could not be reached (the connection attempt was cancelled)",
        "error",
    )
    UPSTREAM_TLS = (
        502,
        "the upstream could not be reached (its TLS certificate did not verify, or the handshake failed)",
        "error",
    )
    READ_TIMEOUT = (504, "the upstream did not answer in time", "timeout")
    # the response had begun: its status stands and the client connection (HTTP/2: the stream) is cut
    # off, so the status and reason here are never answered; logged and counted as a timeout
    BODY_STALLED = (504, "the upstream's response body stalled", "timeout")
    # the upstream took none of the request body for timeouts.upstream (its write buffer full): 504
    # before a response, else cut off as BODY_STALLED is
    SEND_STALLED = (504, "the upstream did not read the request in time", "timeout")
    # not the upstream's failure but why the gateway gave up on it: the client took none of its
    # response for timeouts.idle, so its connection (HTTP/2: the stream) was cut off. Never answered
    # (no one is reading), no upstream error in the metrics (counted as protection event client_stalled)
    CLIENT_STALLED = (499, "the client stopped reading its response", "")
    NO_RESPONSE = (502, "the upstream closed the connection without a response", "error")

    # read from the value, not set in __init__: compiled with mypyc, an enum's attributes set there made
    # its members fail mypyc's type checks in other modules ("Failure object expected; got Failure")
    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def reason(self) -> str:
        return self.value[1]

    @property
    def label(self) -> str:
        return self.value[2]


class Lost(enum.Enum):
    """How an upstream connection ended while it served an exchange."""

    CLOSED = "closed"  # the upstream closed it cleanly, before the response was complete
    RESET = "reset"  # an error on the socket (reset, broken pipe)
    BAD_RESPONSE = "bad response"  # what it sent is not HTTP the gateway accepts
    TUNNEL_ENDED = "tunnel ended"  # an upgraded connection (WebSocket) ended: not a failure
