"""Leases of a shared (Redis) bucket: the few requests a worker may admit without asking Redis.

Asking Redis for every request costs a round trip, a suspended request and a script run: measured on the
bench machine, a limit never reached cost a third of the route's requests/s even with a turn's decisions
sent as one call per bucket (docs/protection.md, Cost). So a worker takes a small number of requests of
a bucket from Redis ahead of need, as one script call that spends them there like any other request,
and admits from that lease synchronously; it asks for more when it holds half a lease or less, so
under steady traffic no request waits on Redis.

Since every admission was first taken from Redis, the shared bucket still bounds them all; what a lease
changes is *when*: requests taken early and spent later. A worker holds at most ``size`` of them per
bucket, so in any span of time N workers of R replicas admit at most ``N * R * size`` requests beyond the
limit's own bound, and at worst refuse as many too early (taken by one worker, wanted on another).
``lease_size`` keeps that a small part of the burst, and zero (every decision in Redis, exact) for a
burst below LEASE_SHARE.
"""

from __future__ import annotations

#: a lease is at most 1/LEASE_SHARE of the bucket's burst ...
LEASE_SHARE = 32
#: ... and never more than this many requests
LEASE_MAX = 1024
#: leases kept per stage before all are dropped (a dropped lease's requests are never admitted: a few
#: early refusals, never an excess), as the local store bounds its keys
MAX_LEASES = 50_000


def lease_size(burst: int) -> int:
    """Requests a worker may hold of a bucket with this burst: 0 for a burst below LEASE_SHARE."""
    return min(LEASE_MAX, burst // LEASE_SHARE)


class Lease:
    """What this worker holds of one bucket."""

    __slots__ = ("asked", "held", "tat")

    def __init__(self) -> None:
        self.held = 0  # requests taken from Redis and not admitted yet
        self.asked = 0  # requests asked for the lease in calls not answered yet
        # when the bucket is full again, as Redis last said, on this worker's clock: the held requests
        # are counted in it, so a request admitted from the lease finds the bucket this far from full
        # minus what is still held
        self.tat = 0.0

    def want(self, size: int) -> int:
        """Requests to ask for with the next call so that held and asked stay within ``size``."""
        wanted = size - self.held - self.asked
        return wanted if wanted > 0 else 0


class Leases:
    """This stage's leases by bucket key, bounded: emptied when MAX_LEASES would be passed."""

    __slots__ = ("by_key", "get")

    def __init__(self) -> None:
        self.by_key: dict[str, Lease] = {}
        self.get = self.by_key.get

    def of(self, key: str) -> Lease:
        lease = self.by_key.get(key)
        if lease is None:
            if len(self.by_key) >= MAX_LEASES:
                self.drop()
            lease = self.by_key[key] = Lease()
        return lease

    def drop(self) -> None:
        """Forget every lease (the store failed, or the table is full): their held requests are lost,
        which can only refuse a few requests early. Calls under way for them answer into the void."""
        self.by_key = {}
        self.get = self.by_key.get
