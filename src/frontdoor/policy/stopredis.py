"""Stops in the Edge's Redis (``rate_limits.store: redis``): one store for every replica of serve and authz.

The stops of a deployment are one Redis hash, ``frontdoor:EDGE:ENV:stops`` (field: the stop's key,
value: the stop as JSON). A stop or start is one HSET or HDEL, then this process's copy changes at
once; every other process reads the hash in the background every POLL_S (a refresh asked by the
periodic tick or by a request, never awaited by one), so a stop reaches every replica within a second.

When Redis cannot be read, the last stops read keep applying (and are kept in the state directory, so a
restart while Redis is away still has them); the failure is logged once and counted. A write that Redis
does not take is refused: the admin API answers 503 and the operator tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frontdoor.policy.stops import Stop, StopStore, StoreUnavailable, stop_from
from frontdoor.sharedredis import redis_client, where

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: seconds for one read or write of the stops: off the request path, so a slow Redis only delays it
TIMEOUT = 1.0
CACHE_NAME = "stops.redis-cache.json"


def stops_key(edge: str, environment: str) -> str:
    return f"frontdoor:{edge}:{environment}:stops"


class RedisStops(StopStore):
    kind = "redis"

    def __init__(self, url: str, key: str, cache_dir: Path | None) -> None:
        super().__init__()
        self.url = url
        self.key = key
        self.label = where(url)  # host:port only: the URL may carry a password
        self.cache = cache_dir / CACHE_NAME if cache_dir is not None else None
        self._client: Redis | None = None  # made in the running loop, to which its connections belong
        self._reading: asyncio.Task[None] | None = None
        self.stops = self._cached()

    def describe(self) -> str:
        return f"redis {self.label} ({self.key})"

    def client(self) -> Redis:
        if self._client is None:
            self._client = redis_client(self.url, TIMEOUT, max_connections=4)
        return self._client

    # --- reading -------------------------------------------------------------------------------------

    def refresh(self, now: float | None = None) -> None:
        super().refresh(now)
        if self._reading is not None and not self._reading.done():
            return  # one read at a time: a slow Redis is never asked twice over
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet (the contract is being loaded): load() reads before the process is ready
        self._reading = loop.create_task(self._read())

    async def load(self) -> None:
        super().refresh()
        await self._read()

    async def _read(self) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                raw: dict[Any, Any] = await self.client().hgetall(self.key)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure of the store: the last stops keep applying
            self.failed("read", error)
            return
        self.succeeded()
        stops: dict[str, Stop] = {}
        for field, value in raw.items():
            try:
                stop = stop_from(json.loads(value))
            except (ValueError, UnicodeDecodeError):
                # a damaged entry: keep what was in force under its key rather than reopen it
                self.failed("read", "a damaged entry")
                name = field.decode("utf-8", "replace") if isinstance(field, bytes) else str(field)
                known = self.stops.get(name)
                if known is not None:
                    stops[known.key] = known
                continue
            stops[stop.key] = stop
        if stops != self.stops:
            self.stops = stops
            self._save()

    def _cached(self) -> dict[str, Stop]:
        """The stops this deployment last read from Redis on this host (none when there is no cache)."""
        if self.cache is None:
            return {}
        try:
            return {s.key: s for s in map(stop_from, json.loads(self.cache.read_text())["stops"])}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _save(self) -> None:
        if self.cache is None:
            return
        temporary = self.cache.with_name(f".{CACHE_NAME}.{os.getpid()}")
        data = json.dumps({"stops": [json.loads(s.json()) for s in self.stops.values()]}, indent=1)
        with contextlib.suppress(OSError):  # a cache: failing to keep it changes nothing now
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(data)
            os.replace(temporary, self.cache)

    # --- writing -------------------------------------------------------------------------------------

    async def _write(self, *commands: tuple[str, ...]) -> list[Any]:
        try:
            async with asyncio.timeout(TIMEOUT):
                pipe = self.client().pipeline(transaction=True)
                for command in commands:
                    pipe.execute_command(*command)
                return list(await pipe.execute())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failed("write", error)
            raise StoreUnavailable(
                f"the stop store ({self.label}) cannot be written: {type(error).__name__}"
            ) from None

    async def stop(self, stop: Stop) -> None:
        await self._write(("HSET", self.key, stop.key, stop.json()))
        self.succeeded()
        self.stops = self.stops | {stop.key: stop}
        self._save()

    async def start(self, key: str) -> Stop | None:
        before, _ = await self._write(("HGET", self.key, key), ("HDEL", self.key, key))
        self.succeeded()
        stops = dict(self.stops)
        known = stops.pop(key, None)
        self.stops = stops
        self._save()
        if before is None:
            return None
        try:
            return stop_from(json.loads(before))
        except (ValueError, UnicodeDecodeError):
            return known
