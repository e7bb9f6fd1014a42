"""HTTP/2: the answered streams of a client connection whose last DATA waits for the client's windows.

While a stream's Downstream lives, its stall timeout (proxy/clock.py) cuts off a client that takes none
of the response for ``timeouts.idle``. Once the response is complete upstream, the Downstream is done
(logged and gone) and what is left of the response waits in the stream's bridge (proxy/h2stream.py) for
the client's flow-control windows, up to the bridge's high-water mark and what one read adds to it. A
client that keeps another stream going keeps the connection from being idle, so without this it could
hold that much per stream, on every stream it may open, for as long as it likes.

So such a stream is timed here: once none of its data could be sent for ``timeouts.idle`` it is reset
(``RST_STREAM INTERNAL_ERROR``, as the stall timeout resets a stream), its data dropped, and counted as
the stall timeout counts (protection event ``client_stalled``, for the service that answered it). Its
access log line, written when the Downstream finished, stays the only one: it shows the status and size
the upstream sent, and no ``upstream_failure``.

One timer per connection, for the stream that has waited longest, armed when the first begins waiting;
a stream that sends some of its data is timed again from then (a time stamp: no timer operation per
DATA frame). While the socket itself is full (``pause_writing``) no stream can send: the connection's
own timeouts are in charge, and the streams are looked at again once it drains. Stays Python (not in
setup.py's compiled list): it runs only for streams a client does not let finish.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from frontdoor.deadline import Deadline
from frontdoor.protection.counters import CLIENT_STALLED, count

if TYPE_CHECKING:
    from frontdoor.proxy.h2connection import ClientH2
    from frontdoor.proxy.h2stream import StreamBridge

# the timer's clock (deadline.py's) fires this much early at most: a stream due by then is due
_SLACK_S: Final = 0.001


class WindowWaits:
    """The answered streams of one connection that wait for the client's windows, each with when it last
    sent some of its data (or began waiting)."""

    __slots__ = ("connection", "streams", "timer")

    def __init__(self, connection: ClientH2) -> None:
        self.connection = connection
        self.streams: dict[StreamBridge, float] = {}
        self.timer = Deadline(connection.loop, self._look)

    def waiting(self, bridge: StreamBridge) -> None:
        """``bridge`` is answered and holds data its windows do not let out: it has just begun waiting,
        or just sent some of it. Timed from now."""
        self.streams[bridge] = time.monotonic()
        if not self.timer.armed:  # an armed timer is due no later than this stream (timed from now)
            idle = self.connection.gateway.runtime.idle_timeout
            self.timer.arm(idle, idle)

    def drop(self, bridge: StreamBridge) -> None:
        """The stream is over (sent to its end, reset by either side): no longer timed."""
        self.streams.pop(bridge, None)

    def release(self) -> None:
        """The connection is gone."""
        self.streams.clear()
        self.timer.release()

    def _look(self) -> None:
        connection = self.connection
        if connection.closed or not self.streams:
            return
        idle = connection.gateway.runtime.idle_timeout
        if connection.writing_paused:
            self.timer.arm(idle, idle)  # no stream can send meanwhile: looked at again after it drains
            return
        now = time.monotonic()
        soonest = 0.0
        for bridge, since in list(self.streams.items()):
            due = since + idle
            if due <= now + _SLACK_S:
                del self.streams[bridge]
                self._stalled(bridge)
            elif not soonest or due < soonest:
                soonest = due
        if soonest and not connection.closed:
            self.timer.arm(soonest - now, soonest - now)

    def _stalled(self, bridge: StreamBridge) -> None:
        """The client took none of the stream's data for timeouts.idle: reset, its data dropped."""
        count(CLIENT_STALLED, bridge.service)
        self.connection.discarding.pop(bridge.stream_id, None)  # its request body is no longer read
        bridge.abort()  # RST_STREAM INTERNAL_ERROR, as the stall timeout's abort
