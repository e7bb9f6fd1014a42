"""The deployment's one Redis, shared by the rate limit (protection/redisstore.py) and the kill switch's
stop store (policy/stopredis.py): its URL, read from the Environment's secret, and how a client to it is
made. Both stores build on this module, so neither has to import the other's package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from frontdoor.contract.values import SecretRef
from frontdoor.errors import FrontdoorError
from frontdoor.plan import Plan
from frontdoor.secretstore import read_secret

if TYPE_CHECKING:
    from redis.asyncio import Redis

REDIS_URL = SecretRef("secret", "redis-url")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def redis_url(plan: Plan) -> str:
    """The Environment's ``secret:redis-url``, the one Redis of the deployment (rate limits, stops)."""
    url = read_secret(REDIS_URL, plan.environment_doc).decode("utf-8", "replace").strip()
    scheme = url.partition("://")[0].lower()
    if scheme not in REDIS_SCHEMES:
        # the value is a secret (it may hold a password): name the reference, never the value
        raise FrontdoorError(f"{REDIS_URL} is not a redis://, rediss:// or unix:// URL")
    return url


def redis_client(url: str, timeout: float, max_connections: int) -> Redis:
    """An asyncio client whose every call gives up after ``timeout``, with no retries of its own."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))


def where(url: str) -> str:
    """host:port of a Redis URL, for the log: never the password a URL may carry."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.scheme or "redis"
    except ValueError:
        return "redis"
