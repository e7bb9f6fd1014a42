"""The rate-limit stage with the Redis store: one limit for every worker and replica.

Every admission is taken from the bucket in Redis by a Lua script run atomically there (EVALSHA, loading
the script when Redis does not know it yet); the script reads Redis's own clock, so gateways whose clocks
differ still share one bucket, and gives every key an expiry at the moment its bucket is full again, so
Redis keeps only keys with debt.

A bucket whose burst is large enough is used through a lease (leases.py): this worker takes a few
requests ahead of need and admits from them synchronously, asking for more before they run out, so a
limit that is not reached costs no wait. A small bucket, and a request that finds no lease, asks Redis
and waits on a plain future. What is asked for in one turn of the event loop goes in one pipeline (one
connection from the pool, one write, one deadline), with one script call per bucket for all its
requests and its lease.

Every call has a deadline (TIMEOUT). A failed or late call marks the store down (storehealth.py) and
drops every lease: until a probe finds Redis again, each request is decided at once by
``on_store_failure`` (``allow``: it passes unlimited; ``deny``: 503).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from frontdoor.memo import Memo
from frontdoor.policy.admission import Admission, Denial, Verdict
from frontdoor.policy.denykind import DenyKind
from frontdoor.protection.counters import STORE_FAILED_CLOSED, STORE_FAILED_OPEN, count
from frontdoor.protection.gcra import ceil_seconds
from frontdoor.protection.headers import RETRY_AFTER
from frontdoor.protection.leases import Lease, Leases, lease_size
from frontdoor.protection.ratelimit import ServiceLimit
from frontdoor.protection.storehealth import StoreHealth
from frontdoor.sharedredis import redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

TIMEOUT = 0.05  # seconds for any one Redis call, connecting included
MAX_CONNECTIONS = 128

# KEYS[1]: the bucket; ARGV: interval and window in microseconds, and n, the requests asking at once.
# GCRA admits them one after the other while the debt stays within the window: the first k of them,
# k = floor((window - debt before) / interval) at most n. Returns {k, the debt before them}; the caller
# works out each request's answer from these two numbers (exactly as n calls of one would have).
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local before = tat - now
local k = math.floor((window - before) / interval)
if k > n then k = n end
if k <= 0 then return {0, before} end
local debt = before + k * interval
redis.call('SET', KEYS[1], string.format('%.0f', tat + k * interval), 'PX', math.floor(debt / 1000) + 1)
return {k, before}
"""


_clients: dict[tuple[str, int], Redis] = {}


def shared_client(url: str) -> Redis:
    """This process's client for ``url``: a reload builds new stages but keeps the connections (the
    gateway runs one event loop per process, to which the client's connections belong)."""
    key = (url, os.getpid())
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis_client(url, TIMEOUT, MAX_CONNECTIONS)
    return client


SCRIPT_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()  # what EVALSHA names it by, not a secret


class Bucketing:
    """One service's limit as this stage uses it, made once."""

    __slots__ = ("interval", "limit", "low", "prefix", "seconds", "size", "window")

    def __init__(self, limit: ServiceLimit, prefix: str) -> None:
        self.limit = limit
        self.prefix = prefix  # the bucket keys' prefix: the deployment's and the service's
        # the script's whole microseconds; the window an exact multiple of the interval, so that
        # rounding never admits one request more than the burst
        self.interval = max(1, round(limit.rate.interval * 1e6))
        self.window = self.interval * limit.rate.burst
        self.seconds = self.interval / 1e6  # the same interval in seconds, for the lease's fields
        self.size = lease_size(limit.rate.burst)  # 0: no lease, every decision in Redis
        self.low = self.size // 2  # ask for more when held and asked fall to this


class Waiting:
    """What one bucket is asked for in this turn of the event loop: the requests waiting, in the order
    they came, and requests for this worker's lease. One script call answers all of them."""

    __slots__ = ("admissions", "bucketing", "decided", "key", "lease", "topup")

    def __init__(self, bucketing: Bucketing, key: str) -> None:
        self.bucketing = bucketing
        self.key = key  # the bucket's Redis key
        self.admissions: list[Admission] = []
        self.decided: list[asyncio.Future[Denial | None]] = []
        self.lease: Lease | None = None  # set when the call is sent, with ...
        self.topup = 0  # ... the requests it asks for the lease


class RedisRateLimit:
    """The ``rate-limit`` stage, store ``redis``."""

    name = "rate-limit"

    def __init__(
        self,
        limits: dict[str, ServiceLimit],
        client: Redis,
        label: str,
        on_failure: str,
        prefix: str,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = TIMEOUT,
    ) -> None:
        self.limits = limits
        self.timeout = timeout  # the client's own calls have the same (sharedredis.redis_client)
        self.client = client
        self._batch: dict[str, Waiting] = {}  # by the bucket's key
        self.leases = Leases()
        self._fields: Memo[tuple[str, int, int], bytes] = Memo(1024)
        self.health = StoreHealth(label, clock)
        self.on_failure = on_failure
        self.clock = clock
        self._by_service = {
            service: Bucketing(limit, f"{prefix}{service}:") for service, limit in limits.items()
        }

    def check(self, admission: Admission) -> Verdict:
        bucketing = self._by_service.get(admission.route.service)
        if bucketing is None:
            return None
        limit = bucketing.limit
        key = bucketing.prefix + limit.text_key(admission)
        if bucketing.size:
            lease = self.leases.get(key)
            if lease is not None and lease.held:
                held = lease.held = lease.held - 1
                if held + lease.asked <= bucketing.low and key not in self._batch:
                    self._queue(bucketing, key)  # more before it runs out: an empty lease makes waits
                # the bucket as Redis last counted it, less what this worker still holds
                debt = max(bucketing.seconds, lease.tat - held * bucketing.seconds - admission.now)
                admission.add_response_lines(
                    self._lines(limit, limit.rate.remaining(debt), ceil_seconds(debt))
                )
                return None
        if not self.health.usable(admission.now):
            return self._unavailable(limit, admission.now)
        decided: asyncio.Future[Denial | None] = asyncio.get_running_loop().create_future()
        waiting = self._batch.get(key) or self._queue(bucketing, key)
        waiting.admissions.append(admission)
        waiting.decided.append(decided)
        return decided

    def _queue(self, bucketing: Bucketing, key: str) -> Waiting:
        """The bucket's entry in the next call to Redis, sent when this turn of the event loop ends."""
        batch = self._batch
        if not batch:
            loop = asyncio.get_running_loop()
            loop.call_soon(self._flush, loop)
        waiting = batch[key] = Waiting(bucketing, key)
        return waiting

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._batch = self._batch, {}
        calls = []
        for waiting in batch.values():
            size = waiting.bucketing.size
            if size:  # the lease is topped up with the same call
                lease = waiting.lease = self.leases.of(waiting.key)
                waiting.topup = lease.want(size)
                lease.asked += waiting.topup
            if waiting.decided or waiting.topup:
                calls.append(waiting)
        if calls:
            loop.create_task(self._send(calls))

    async def _send(self, batch: list[Waiting]) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                replies = await self._run(batch)
        except asyncio.CancelledError:
            self.health.probing = False
            for waiting in batch:
                self._unask(waiting)
                for decided in waiting.decided:
                    decided.cancel()
            raise
        except Exception as error:  # any failure of the store is a store failure, never a 500
            self.health.failed(error, self.on_failure)
            self.leases.drop()  # while Redis is away, on_store_failure decides every request
            now = self.clock()
            for waiting in batch:
                self._unask(waiting)
                for decided in waiting.decided:
                    if not decided.done():
                        decided.set_result(self._unavailable(waiting.bucketing.limit, now))
            return
        self.health.succeeded()
        now = self.clock()
        for waiting, reply in zip(batch, replies, strict=True):
            self._answer(waiting, int(reply[0]), int(reply[1]), now)

    @staticmethod
    def _unask(waiting: Waiting) -> None:
        if waiting.lease is not None:
            waiting.lease.asked -= waiting.topup

    async def _run(self, batch: list[Waiting]) -> list[Any]:
        """The script's replies for ``batch``, loading the script once if Redis does not know it."""
        replies: list[Any] = await self._pipeline(batch)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self.client.script_load(GCRA_SCRIPT)
            again = await self._pipeline([batch[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _pipeline(self, batch: list[Waiting]) -> list[Any]:
        if len(batch) == 1:  # the usual call (one bucket's top-up): redis-py's pipeline costs more
            waiting = batch[0]
            bucketing = waiting.bucketing
            asked = len(waiting.decided) + waiting.topup
            try:
                call = self.client.evalsha(
                    SCRIPT_SHA, 1, waiting.key, bucketing.interval, bucketing.window, asked
                )
                return [await call]
            except NoScriptError as error:
                return [error]
        pipe = self.client.pipeline(transaction=False)
        for waiting in batch:
            bucketing = waiting.bucketing
            asked = len(waiting.decided) + waiting.topup
            pipe.evalsha(SCRIPT_SHA, 1, waiting.key, bucketing.interval, bucketing.window, asked)
        return list(await pipe.execute(raise_on_error=False))

    def _answer(self, waiting: Waiting, taken: int, before: int, now: float) -> None:
        """Each waiting request's answer from the script's: the first ``taken`` pass, each one interval
        further into the bucket's debt, and the lease gets what is left of ``taken``; the others are
        refused as the next one would be."""
        bucketing = waiting.bucketing
        limit = bucketing.limit
        interval = bucketing.interval
        lease = waiting.lease
        if lease is not None:
            lease.asked -= waiting.topup
            extra = taken - len(waiting.decided)
            if extra > 0:
                lease.held += extra
                lease.tat = now + (before + taken * interval) / 1e6
        for index, decided in enumerate(waiting.decided):
            if decided.done():
                continue  # cancelled: its client left
            if index < taken:
                debt = (before + (index + 1) * interval) / 1e6
                lines = self._lines(limit, limit.rate.remaining(debt), ceil_seconds(debt))
                waiting.admissions[index].add_response_lines(lines)
                decided.set_result(None)
                continue
            debt = before + taken * interval  # where every refused one finds the bucket
            wait = (debt + interval - bucketing.window) / 1e6
            decided.set_result(limit.refused(waiting.admissions[index], wait, debt / 1e6))

    def _lines(self, limit: ServiceLimit, remaining: int, reset: int) -> bytes:
        """The RateLimit fields' lines, remembered by (service, remaining, reset) as the local store
        does: a limit far above the traffic gives the same few every time."""
        state = (limit.service, remaining, reset)
        lines = self._fields.get(state)
        if lines is None:
            lines = self._fields.keep(state, limit.fields.lines(remaining, reset))
        return lines

    def _unavailable(self, limit: ServiceLimit, now: float) -> Denial | None:
        if self.on_failure == "allow":
            count(STORE_FAILED_OPEN, limit.service)
            return None
        count(STORE_FAILED_CLOSED, limit.service)
        return Denial(
            503,
            "the rate-limit store cannot be reached and this edge refuses requests it cannot count",
            "rate-limit: store unreachable (on_store_failure: deny)",
            ((RETRY_AFTER, b"%d" % self.health.wait(now)),),
            DenyKind.RATE_LIMIT_STORE,
        )
