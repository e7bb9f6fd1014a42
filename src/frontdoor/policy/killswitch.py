"""The kill switch: services and routes an operator stopped, and the first pipeline stage that enforces it.

Stops live in ONE store that every process of a deployment (serve and authz, every worker, every
replica) shares, kept per Edge and environment so that deployments sharing it never see each other's:

- ``STATE_DIR/EDGE/ENV/stops.json`` on one host (FileStops). A write takes an exclusive lock, re-reads the
  file, changes it and replaces it atomically; a reader notices a new file by its stat.
- the Edge's Redis when ``rate_limits.store: redis`` (policy/stopredis.py): ``frontdoor:EDGE:ENV:stops``.

The request path never waits on a store: it reads this process's copy of the stops (a dict), and at most
every POLL_S (one comparison of the monotonic clock) asks the store to refresh it; the file store does
one stat, the Redis store starts a background read. A store that cannot be read keeps the last stops it
knew; the failure is logged once each way and counted (``frontdoor_stop_store_failures_total``).

A route is stopped by its key (service, methods, path), not by its position, so a contract edit that
reorders routes does not move a stop onto another route.
"""

from __future__ import annotations

import os

from frontdoor.plan import Plan, PlannedRoute
from frontdoor.policy.admission import Admission, Denial, StageContext, Verdict
from frontdoor.policy.denykind import DenyKind
from frontdoor.policy.stops import OPEN_STORES, StopStore, file_store
from frontdoor.statedir import deployment_dir

_RETRY_AFTER = ((b"retry-after", b"60"),)


def route_id(route: PlannedRoute) -> str:
    """The id operators use for a route: its service and its position there (``orders.0``)."""
    return f"{route.service}.{route.index}"


def route_key(route: PlannedRoute) -> str:
    """What a route stop is kept under: stable across reorders of the contract."""
    return f"route:{route.service} {route.method_text} {route.path}"


def service_key(service: str) -> str:
    return f"service:{service}"


def store_for(plan: Plan, context: StageContext | None = None) -> StopStore:
    """The store this deployment's stops live in: the Edge's Redis with ``rate_limits.store: redis``,
    the state directory otherwise."""
    state_dir = context.state_dir if context is not None else None
    edge, environment = plan.edge.name, plan.environment
    limits = plan.edge.spec.rate_limits
    if limits is None or limits.store != "redis":
        return file_store(state_dir, edge, environment)
    from frontdoor.policy.stopredis import RedisStops, stops_key
    from frontdoor.sharedredis import redis_url

    url = redis_url(plan)
    key = ("redis", url, edge, environment, str(os.getpid()))
    store = OPEN_STORES.get(key)
    if store is None:
        cache = deployment_dir(state_dir, edge, environment) if state_dir is not None else None
        store = OPEN_STORES[key] = RedisStops(url, stops_key(edge, environment), cache)
    return store


class KillSwitchStage:
    """503 for a stopped service or route, naming the owner, the reason and when it was stopped."""

    name = "kill-switch"

    def __init__(self, plan: Plan, store: StopStore) -> None:
        self.store = store
        self.keys = {id(r): (service_key(r.service), route_key(r)) for _, r in plan.routes()}

    def check(self, admission: Admission) -> Verdict:
        store = self.store
        if admission.now >= store.next_check:
            store.refresh(admission.now)
        stops = store.stops
        if not stops:
            return None
        keys = self.keys.get(id(admission.route))
        if keys is None:
            return None
        stop = stops.get(keys[0]) or stops.get(keys[1])
        if stop is None:
            return None
        return Denial(
            503,
            f"{stop.kind} {stop.target} was stopped by the platform team at {stop.at}: {stop.reason}",
            f"kill-switch: {stop.kind} {stop.target}",
            _RETRY_AFTER,
            kind=DenyKind.KILL_SWITCH,
        )
