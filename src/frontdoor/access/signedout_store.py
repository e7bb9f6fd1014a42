"""Which store a deployment's signed-out sessions live in (access/signedout.py): the Edge's Redis with
``rate_limits.store: redis``, the state directory otherwise, this process's memory without either.
One store per deployment and process, so a pipeline rebuilt by a reload keeps the sign-outs."""

from __future__ import annotations

import os
from pathlib import Path

from frontdoor.access.signedout import FileSignedOut, SignedOut
from frontdoor.plan import Plan
from frontdoor.statedir import deployment_dir

_OPEN: dict[tuple[str, ...], SignedOut] = {}


def signed_out_store(plan: Plan, state_dir: Path | None) -> SignedOut:
    edge, environment = plan.edge.name, plan.environment
    limits = plan.edge.spec.rate_limits
    pid = str(os.getpid())  # a worker forked after the store was made gets its own (its own connections)
    if limits is not None and limits.store == "redis":
        from frontdoor.access.signedout_redis import RedisSignedOut, signed_out_key
        from frontdoor.sharedredis import redis_url

        url = redis_url(plan)
        horizon = max(
            (p.login.session.ttl for p in plan.edge.spec.identity.providers if p.login is not None),
            default=0.0,
        )
        key: tuple[str, ...] = ("redis", url, edge, environment, str(horizon), pid)
        store = _OPEN.get(key)
        if store is None:
            store = _OPEN[key] = RedisSignedOut(url, signed_out_key(edge, environment), horizon)
        return store
    if state_dir is None:
        key = ("memory", edge, environment, pid)
        store = _OPEN.get(key)
        if store is None:
            store = _OPEN[key] = SignedOut()
        return store
    key = ("file", str(state_dir.resolve()), edge, environment, pid)
    store = _OPEN.get(key)
    if store is None:
        store = _OPEN[key] = FileSignedOut(deployment_dir(state_dir, edge, environment))
    return store
