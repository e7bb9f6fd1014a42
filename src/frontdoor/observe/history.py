"""The last 15 minutes of traffic per route, in 5-second steps: what the dashboard draws as charts.

Each worker samples the deployment's merged totals (every worker's snapshot, metrics.deployment)
every STEP_S and keeps the difference from its previous sample: so whichever worker answers
``/admin/history`` answers for the whole deployment, as a scrape does. Memory is bounded: SLOTS steps,
and in each only the routes that had requests or denials then (four numbers a route).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from frontdoor.observe.traffic import RouteKey, Stat, Table, quantile

STEP_S: Final = 5
SLOTS: Final = 180  # 15 minutes

#: a route's step: requests, 5xx answers, denials, p99 in milliseconds (None without requests)
Point = tuple[int, int, int, float | None]


class History:
    def __init__(self) -> None:
        self.steps: deque[tuple[float, dict[RouteKey, Point]]] = deque(maxlen=SLOTS)
        self._last: Table | None = None

    def sample(self, totals: Table, at: float) -> None:
        """Record what happened since the previous sample; the first one only sets the baseline. A
        count that went down (a worker gone, its snapshot no longer merged) counts as nothing."""
        previous, self._last = self._last, totals
        if previous is None:
            return
        step: dict[RouteKey, Point] = {}
        for key, stat in totals.items():
            before = previous.get(key) or Stat()
            requests = max(0, stat.requests - before.requests)
            denied = max(0, sum(stat.denies.values()) - sum(before.denies.values()))
            if not requests and not denied:
                continue
            hist = [max(0, now - then) for now, then in zip(stat.hist, before.hist, strict=True)]
            p99 = quantile(hist, 0.99)
            errors = max(0, stat.errors - before.errors)
            step[key] = (requests, errors, denied, None if p99 is None else round(p99 * 1000, 3))
        self.steps.append((at, step))

    def json(self) -> dict[str, Any]:
        """Every route seen in the kept steps, each with one value per step (0 where it was idle)."""
        times = [at for at, _ in self.steps]
        keys = sorted({key for _, step in self.steps for key in step})
        routes = []
        for key in keys:
            points = [step.get(key) for _, step in self.steps]
            routes.append(
                {
                    "route": key[0],
                    "path": key[1],
                    "service": key[2],
                    "owner": key[3],
                    "requests": [p[0] if p else 0 for p in points],
                    "errors": [p[1] if p else 0 for p in points],
                    "denied": [p[2] if p else 0 for p in points],
                    "p99_ms": [p[3] if p else None for p in points],
                }
            )
        return {"step_s": STEP_S, "times": times, "routes": routes}
