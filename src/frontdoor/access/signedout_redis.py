"""Signed-out sessions in the Edge's Redis (``rate_limits.store: redis``): one record for every replica of
serve and authz, with no shared directory (access/signedout.py explains the design).

The sign-outs of a deployment are one Redis stream, ``frontdoor:EDGE:ENV:signed-out``, one entry per
sign-out (``sid``, ``until``). A stream is read from where the last read stopped, so each process reads
only new sign-outs, every POLL_S, in the background. It is bounded by time: each XADD trims the entries
older than the longest absolute session ``ttl`` of the Edge (MINID, by Redis's own clock), whose
sessions have all ended, and the whole key expires that long after the last sign-out.

When Redis cannot be reached, the sign-outs already read keep applying; a sign-out that cannot be
written is still refused by the process that answered it (and its cookies cleared in the browser), and
the failure is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any, Final

from frontdoor.access.signedout import SignedOut
from frontdoor.sharedredis import redis_client, where

if TYPE_CHECKING:
    from redis.asyncio import Redis

TIMEOUT: Final = 1.0  # seconds for one read or write: off the request path
BATCH: Final = 1000  # entries per read; a longer backlog is read in several
MARGIN_S: Final = 300  # kept this much past the longest ttl: clocks of replicas and Redis differ


def signed_out_key(edge: str, environment: str) -> str:
    return f"frontdoor:{edge}:{environment}:signed-out"


class RedisSignedOut(SignedOut):
    kind = "redis"

    def __init__(self, url: str, key: str, horizon: float) -> None:
        """``horizon``: the longest absolute session ttl of the Edge's providers, in seconds."""
        super().__init__()
        self.url = url
        self.key = key
        self.keep_ms = int((horizon + MARGIN_S) * 1000)
        self.label = where(url)  # host:port only: the URL may carry a password
        self.last_id = "0"  # the stream entry read last: the next read starts after it
        self._client: Redis | None = None  # made in the running loop, to which its connections belong
        self._reading: asyncio.Task[None] | None = None

    def describe(self) -> str:
        return f"redis {self.label} ({self.key})"

    def client(self) -> Redis:
        if self._client is None:
            self._client = redis_client(self.url, TIMEOUT, max_connections=4)
        return self._client

    def refresh(self) -> None:
        if self._reading is not None and not self._reading.done():
            return  # one read at a time: a slow Redis is never asked twice over
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._reading = loop.create_task(self._read())

    async def load(self) -> None:
        await self._read()

    async def _read(self) -> None:
        try:
            while True:
                async with asyncio.timeout(TIMEOUT):
                    answer: Any = await self.client().xread({self.key: self.last_id}, count=BATCH)
                entries = answer[0][1] if answer else []
                self._take(entries)
                if len(entries) < BATCH:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure of the store: the sign-outs known keep applying
            self.failed("read", error)
            return
        self.succeeded()

    def _take(self, entries: list[Any]) -> None:
        now = time.time()
        for entry_id, fields in entries:
            self.last_id = entry_id.decode("ascii") if isinstance(entry_id, bytes) else str(entry_id)
            sid, until = fields.get(b"sid"), fields.get(b"until")
            if not isinstance(sid, bytes) or not isinstance(until, bytes):
                continue  # not a sign-out this gateway wrote: skipped
            with contextlib.suppress(UnicodeDecodeError, ValueError):
                if float(until) > now:
                    self.remember(sid.decode("ascii"), float(until), now)

    async def sign_out(self, sid: str, until: float, now: float) -> None:
        self.remember(sid, until, now)
        try:
            async with asyncio.timeout(TIMEOUT):
                pipe = self.client().pipeline(transaction=True)
                # the entries older than the longest session: every session they name has ended
                oldest = max(0, int(now * 1000) - self.keep_ms)
                pipe.xadd(self.key, {"sid": sid, "until": f"{until:.3f}"}, minid=oldest, approximate=False)
                pipe.pexpire(self.key, self.keep_ms)
                await pipe.execute()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failed("write", error)
            return
        self.succeeded()
