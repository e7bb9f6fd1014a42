"""Who is being rate limited: the 429s of the last minute per (service, client), for the dashboard's
"top clients being limited" (the admin API's ``/admin/limited``).

The client is what the limit counts by: the API client's name, the token's subject, or the client's
address (a ``client`` or ``route`` limit, and a caller without that identity), with its kind
(``api_client``, ``subject``, ``address``). Never a credential: an API key or a token is not a name,
and neither is ever passed here.

Counted on the deny path only (``ServiceLimit.refused``): an admitted request never touches this. The
memory is bounded whatever the number of clients: a 10-second slot keeps at most CAPACITY clients, and
a new one arriving at a full slot takes the place of the least limited (a client refused again and
again stays; one-offs replace each other), and only the last SLOTS slots are kept. Each worker writes
its own top into its metrics snapshot; the admin API adds the workers up (observe/metrics.py).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Final

SLOT_S: Final = 10
SLOTS: Final = 6
WINDOW_S: Final = SLOT_S * SLOTS
CAPACITY: Final = 64  # clients per slot and per worker

#: (service, kind, client): kind is "api_client", "subject" or "address"
Who = tuple[str, str, str]


class LimitedClients:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.slots: deque[tuple[int, dict[Who, int]]] = deque()

    def _current(self, now: float) -> dict[Who, int]:
        """The slot ``now`` falls in, the slots older than the window dropped."""
        index = int(now // SLOT_S)
        slots = self.slots
        if not slots or slots[-1][0] != index:
            slots.append((index, {}))
        while slots[0][0] <= index - SLOTS:
            slots.popleft()
        return slots[-1][1]

    def count(self, service: str, kind: str, client: str) -> None:
        counts = self._current(self.clock())
        who = (service, kind, client)
        seen = counts.get(who)
        if seen is None and len(counts) >= CAPACITY:
            del counts[min(counts, key=counts.__getitem__)]  # the least limited makes room
        counts[who] = (seen or 0) + 1

    def top(self, limit: int = CAPACITY) -> list[tuple[str, str, str, int]]:
        """The most limited clients of the last minute: ``(service, kind, client, refusals)``, most first."""
        self._current(self.clock())
        total: Counter[Who] = Counter()
        for _, counts in self.slots:
            total.update(counts)
        return [(*who, n) for who, n in total.most_common(limit)]


LIMITED = LimitedClients()


def count(service: str, kind: str, client: str) -> None:
    LIMITED.count(service, kind, client)


def snapshot() -> list[tuple[str, str, str, int]]:
    return LIMITED.top()
