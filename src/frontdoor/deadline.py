"""One timer for a connection whose deadline moves on every request, and on every read of a body: the
client connection's (proxy/clock.py) header, body, upstream, idle and sending timeouts, and the auth check
connection's (authz/service.py) header and idle timeouts.

A new timer handle per phase costs an allocation and a heap operation in the loop each time. Instead
one handle stays in place while the deadline moves later: when it fires before the deadline, it is
re-armed once for the deadline itself. A handle is only replaced when a deadline earlier than it is set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

# the loop's timers have a millisecond resolution: a handle firing this much early is on time
_SLACK_S: Final = 0.001
# The clock of every deadline: the one asyncio's loop.time() reads (uvloop's, cached per loop turn,
# trails by at most a turn; a timer then fires a little late, never early). Bound once: compiled,
# reading a module attribute and calling a loop method cost more than the clock itself.
_clock: Final = time.monotonic


class Deadline:
    """Calls ``expired`` once the last armed deadline passes, unless disarmed before."""

    __slots__ = ("armed", "at", "expired", "handle", "handle_at", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[], None]) -> None:
        self.loop = loop
        # the owner's callback: dropped by ``release`` (it refers to the owner, which refers to this)
        self.expired: Callable[[], None] | None = expired
        self.handle: asyncio.TimerHandle | None = None
        self.handle_at = 0.0  # when ``handle`` fires
        self.at = 0.0  # the deadline
        self.armed = False

    def arm(self, timeout: float, step: float) -> None:
        """Expire ``timeout`` seconds from now (replacing any deadline armed before). A new handle fires
        after at most ``step`` (the shortest timeout in use), so that arming any later deadline keeps
        it in place."""
        now = _clock()
        deadline = now + timeout
        self.at = deadline
        self.armed = True
        handle = self.handle
        if handle is None or self.handle_at > deadline:
            if handle is not None:
                handle.cancel()
            at = self.handle_at = now + step if step < timeout else deadline
            self.handle = self.loop.call_at(at, self._fire)

    def disarm(self) -> None:
        """No deadline: the handle in place fires once more, for nothing."""
        self.armed = False

    def cancel(self) -> None:
        """No deadline and no handle (the connection is gone)."""
        self.armed = False
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def release(self) -> None:
        """The connection is gone: no handle, and no reference cycle with its owner left behind, so that
        the owner is freed at once rather than by the cycle collector."""
        self.cancel()
        self.expired = None

    def _fire(self) -> None:
        self.handle = None
        expired = self.expired
        if not self.armed or expired is None:
            return
        deadline = self.at
        if _clock() < deadline - _SLACK_S:
            self.handle_at = deadline
            self.handle = self.loop.call_at(deadline, self._fire)
            return
        self.armed = False
        expired()
