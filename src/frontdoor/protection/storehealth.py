"""Whether the rate limit's Redis is usable: up, or down for a backoff window after a failed call.

While it is down no request waits on Redis: each is decided at once by ``on_store_failure``; after the
window one request probes it again (BACKOFF_MIN, doubling to BACKOFF_MAX). The change of state is logged
once each way, never per request, and names the store by host and port only (a URL may hold a password).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from frontdoor.protection.gcra import ceil_seconds

log = logging.getLogger("frontdoor.protection")

BACKOFF_MIN = 0.25
BACKOFF_MAX = 5.0


class StoreHealth:
    """Up, or down until ``retry_at``; one probe at a time once the backoff window is over."""

    def __init__(self, label: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.clock = clock
        self.up = True
        self.retry_at = 0.0
        self.backoff = 0.0
        self.probing = False

    def usable(self, now: float) -> bool:
        """Whether this request may call Redis; when it is the probe after a backoff, it is marked."""
        if self.up:
            return True
        if self.probing or now < self.retry_at:
            return False
        self.probing = True
        return True

    def failed(self, error: BaseException, on_failure: str) -> None:
        self.probing = False
        self.backoff = min(BACKOFF_MAX, self.backoff * 2) if self.backoff else BACKOFF_MIN
        self.retry_at = self.clock() + self.backoff
        if self.up:
            self.up = False
            then = "requests pass unlimited" if on_failure == "allow" else "requests are refused with 503"
            log.warning(
                "rate-limit store %s unreachable (%s); %s until it answers again (on_store_failure: %s)",
                self.label,
                type(error).__name__,
                then,
                on_failure,
            )

    def succeeded(self) -> None:
        self.probing = False
        if not self.up:
            self.up = True
            self.backoff = 0.0
            log.warning("rate-limit store %s reachable again: rate limits apply", self.label)

    def wait(self, now: float) -> int:
        """Whole seconds until Redis is tried again (at least 1), for Retry-After."""
        return max(1, ceil_seconds(self.retry_at - now))
