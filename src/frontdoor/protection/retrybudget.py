"""A retry budget per service: retries may add at most RATIO of the requests, so they never multiply an
outage (with ``retries.attempts: 3`` and every try failing, retrying everything would triple the load on
a service that is already down).

Requests and retries are counted over a rolling window of two halves (the previous one weighted by how
much of it is still inside the window). A retry is allowed while the retries in the window stay below
``RATIO`` of the requests, or below MINIMUM, so that a quiet service can still retry a few failures.
"""

from __future__ import annotations

WINDOW = 10.0  # seconds
RATIO = 0.2
MINIMUM = 10  # retries per window allowed whatever the traffic


class RetryBudget:
    __slots__ = ("half", "minimum", "previous", "ratio", "requests", "retries", "started")

    def __init__(
        self, ratio: float = RATIO, minimum: int = MINIMUM, window: float = WINDOW, now: float = 0.0
    ) -> None:
        self.ratio = ratio
        self.minimum = minimum
        self.half = window / 2
        self.started = now  # when the current half began
        self.requests = 0  # in the current half
        self.retries = 0
        self.previous = (0, 0)  # (requests, retries) of the half before

    def request(self, now: float) -> None:
        """A request's first try (retries are not requests)."""
        if now - self.started >= self.half:
            self._roll(now)
        self.requests += 1

    def allow_retry(self, now: float) -> bool:
        """Whether one more retry fits in the budget; if it does, it is spent."""
        if now - self.started >= self.half:
            self._roll(now)
        weight = 1.0 - (now - self.started) / self.half
        requests = self.requests + self.previous[0] * weight
        retries = self.retries + self.previous[1] * weight
        if retries >= self.minimum and retries >= self.ratio * requests:
            return False
        self.retries += 1
        return True

    def _roll(self, now: float) -> None:
        halves = int((now - self.started) / self.half)
        self.previous = (self.requests, self.retries) if halves == 1 else (0, 0)
        self.requests = 0
        self.retries = 0
        self.started += halves * self.half
