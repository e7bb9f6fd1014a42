"""The last 15 minutes of traffic per route, in 5-second steps: what the dashboard draws as charts.

Each worker samples the deployment's merged totals (every worker's snapshot, metrics.deployment)
every STEP_S and keeps the difference from its previous sample: so whichever worker answers
``/admin/history`` answers for the whole deployment, as a scrape does. Memory is bounded: SLOTS steps,
and in each only the routes that had requests or denials then, with their denials counted by kind
(one of the fixed ``DenyKind`` set, never by rule, whose text the contract writes).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from frontdoor.observe.traffic import RouteKey, Stat, Table, quantile
from frontdoor.policy.denykind import DenyKind

STEP_S: Final = 5
SLOTS: Final = 180  # 15 minutes
#: every kind a denial can have, in the enum's order: the dashboard gives each its colour
KINDS: Final[tuple[str, ...]] = tuple(kind.value for kind in DenyKind)
_KNOWN: Final = frozenset(KINDS)

#: a route's step: requests, 5xx answers, denials by kind (only those seen), p99 in milliseconds
#: (None without requests)
Point = tuple[int, int, dict[str, int], float | None]


def _by_kind(stat: Stat) -> dict[str, int]:
    """A route's denials summed over their rules, by kind; a name outside the set (a stage that made
    one up) counts as ``denied``, so a step never holds more than len(KINDS) of them."""
    counts: dict[str, int] = {}
    for (kind, _rule), count in stat.denies.items():
        name = kind if kind in _KNOWN else DenyKind.DENIED.value
        counts[name] = counts.get(name, 0) + count
    return counts


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
            earlier = _by_kind(before)
            denied = {
                kind: more
                for kind, count in _by_kind(stat).items()
                if (more := count - earlier.get(kind, 0)) > 0
            }
            if not requests and not denied:
                continue
            hist = [max(0, now - then) for now, then in zip(stat.hist, before.hist, strict=True)]
            p99 = quantile(hist, 0.99)
            errors = max(0, stat.errors - before.errors)
            step[key] = (requests, errors, denied, None if p99 is None else round(p99 * 1000, 3))
        self.steps.append((at, step))

    def json(self) -> dict[str, Any]:
        """Every route seen in the kept steps, each with one value per step (0 where it was idle);
        ``denied_by_kind`` has a series for each kind the route saw, ``denied`` is their sum."""
        times = [at for at, _ in self.steps]
        keys = sorted({key for _, step in self.steps for key in step})
        routes = []
        for key in keys:
            points = [step.get(key) for _, step in self.steps]
            seen = sorted({kind for p in points if p for kind in p[2]}, key=KINDS.index)
            routes.append(
                {
                    "route": key[0],
                    "path": key[1],
                    "service": key[2],
                    "owner": key[3],
                    "requests": [p[0] if p else 0 for p in points],
                    "errors": [p[1] if p else 0 for p in points],
                    "denied": [sum(p[2].values()) if p else 0 for p in points],
                    "denied_by_kind": {
                        kind: [p[2].get(kind, 0) if p else 0 for p in points] for kind in seen
                    },
                    "p99_ms": [p[3] if p else None for p in points],
                }
            )
        return {"step_s": STEP_S, "times": times, "deny_kinds": list(KINDS), "routes": routes}
