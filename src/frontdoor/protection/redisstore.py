"""The rate-limit stage with the Redis store: one limit for every worker and replica.

Each decision is one Lua script run atomically by Redis (EVALSHA, loading the script when Redis does not
know it yet). The decisions asked for in one turn of the event loop are sent together in one pipeline
(one connection from the pool, one write, one deadline), and each request waits on a plain future.
The script reads Redis's own clock, so gateways whose clocks differ still share one bucket, and gives
every key an expiry at the moment its bucket is full again, so Redis keeps only keys with debt.

Every call has a deadline (TIMEOUT). When Redis cannot be reached the store is marked down: for a backoff
window (growing from BACKOFF_MIN to BACKOFF_MAX) no request waits on it, each is decided at once by
``on_store_failure`` (``allow``: it passes unlimited; ``deny``: 503), and after the window a single
request probes Redis again. The change of state is logged once each way, never per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from frontdoor.policy.admission import Admission, Denial, Verdict
from frontdoor.policy.denykind import DenyKind
from frontdoor.protection.counters import STORE_FAILED_CLOSED, STORE_FAILED_OPEN, count
from frontdoor.protection.gcra import ceil_seconds
from frontdoor.protection.headers import RETRY_AFTER
from frontdoor.protection.ratelimit import ServiceLimit
from frontdoor.sharedredis import redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("frontdoor.protection")

TIMEOUT = 0.05  # seconds for any one Redis call, connecting included
BACKOFF_MIN = 0.25
BACKOFF_MAX = 5.0
MAX_CONNECTIONS = 128

# KEYS[1]: the bucket; ARGV: interval and window in microseconds. Returns {admitted, a, b}: admitted,
# a = the debt after this request; refused, a = microseconds to wait and b = the debt now.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local debt = tat + interval - now
if debt > window then
  return {0, debt - window, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.floor(debt / 1000) + 1)
return {1, debt, 0}
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


# a decision waiting for the next pipeline: limit, key, interval, window, admission, its future
@dataclass(slots=True)
class Pending:
    """One decision waiting for the next pipeline to Redis: what to ask, and whom to tell."""

    limit: ServiceLimit
    key: str  # the bucket's Redis key
    interval: int  # the limit in the script's microseconds
    window: int
    admission: Admission
    decided: asyncio.Future[Denial | None]


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


class RedisRateLimit:
    """The ``rate-limit`` stage, store ``redis``: the one stage that waits on the network per request."""

    name = "rate-limit"

    def __init__(
        self,
        limits: dict[str, ServiceLimit],
        client: Redis,
        label: str,
        on_failure: str,
        prefix: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.client = client
        self._batch: list[Pending] = []
        self.health = StoreHealth(label, clock)
        self.on_failure = on_failure
        self.clock = clock
        # per service: the key prefix and the limit in the script's microseconds
        self._by_service = {
            service: _micro(
                limit,
                f"{prefix}{service}:",
                max(1, round(limit.rate.interval * 1e6)),
            )
            for service, limit in limits.items()
        }

    def check(self, admission: Admission) -> Verdict:
        entry = self._by_service.get(admission.route.service)
        if entry is None:
            return None
        limit, prefix, interval, window = entry
        if not self.health.usable(admission.now):
            return self._unavailable(limit, admission.now)
        # Decisions asked for in the same turn of the event loop go to Redis together, in one pipeline:
        # one connection from the pool, one write, one deadline for all of them.
        loop = asyncio.get_running_loop()
        decided: asyncio.Future[Denial | None] = loop.create_future()
        batch = self._batch
        batch.append(Pending(limit, prefix + limit.text_key(admission), interval, window, admission, decided))
        if len(batch) == 1:
            loop.call_soon(self._flush, loop)
        return decided

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._batch = self._batch, []
        loop.create_task(self._send(batch))

    async def _send(self, batch: list[Pending]) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                replies = await self._run(batch)
        except asyncio.CancelledError:
            self.health.probing = False
            for item in batch:
                item.decided.cancel()
            raise
        except Exception as error:  # any failure of the store is a store failure, never a 500
            self.health.failed(error, self.on_failure)
            now = self.clock()
            for item in batch:
                if not item.decided.done():
                    item.decided.set_result(self._unavailable(item.limit, now))
            return
        self.health.succeeded()
        for item, reply in zip(batch, replies, strict=True):
            if not item.decided.done():
                item.decided.set_result(self._verdict(item.limit, item.admission, reply))

    async def _run(self, batch: list[Pending]) -> list[Any]:
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

    async def _pipeline(self, batch: list[Pending]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for item in batch:
            pipe.evalsha(SCRIPT_SHA, 1, item.key, item.interval, item.window)
        return list(await pipe.execute(raise_on_error=False))

    @staticmethod
    def _verdict(limit: ServiceLimit, admission: Admission, reply: Any) -> Denial | None:
        admitted, first, second = reply
        if not admitted:
            return limit.refused(int(first) / 1e6, int(second) / 1e6)
        debt = int(first) / 1e6
        fields = limit.fields
        admission.add_response_lines(fields.lines(limit.rate.remaining(debt), ceil_seconds(debt)))
        return None

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


def _micro(limit: ServiceLimit, prefix: str, interval: int) -> tuple[ServiceLimit, str, int, int]:
    """The script's arguments: whole microseconds, the window an exact multiple of the interval so that
    rounding never admits one request more than the burst."""
    return limit, prefix, interval, interval * limit.rate.burst
