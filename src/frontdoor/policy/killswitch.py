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

import contextlib
import fcntl
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from frontdoor.plan import Plan, PlannedRoute
from frontdoor.policy.denykind import DenyKind
from frontdoor.policy.pipeline import Admission, Denial, StageContext, Verdict
from frontdoor.statedir import deployment_dir

log = logging.getLogger("frontdoor.killswitch")
POLL_S = 0.5
_RETRY_AFTER = ((b"retry-after", b"60"),)

#: (store, operation) -> failures, for ``frontdoor_stop_store_failures_total``; for the life of the process
FAILURES: Counter[tuple[str, str]] = Counter()


def route_id(route: PlannedRoute) -> str:
    """The id operators use for a route: its service and its position there (``orders.0``)."""
    return f"{route.service}.{route.index}"


def route_key(route: PlannedRoute) -> str:
    """What a route stop is kept under: stable across reorders of the contract."""
    return f"route:{route.service} {route.method_text} {route.path}"


def service_key(service: str) -> str:
    return f"service:{service}"


@dataclass(frozen=True)
class Stop:
    kind: str  # "service" | "route"
    target: str  # the service name, or the route id when it was stopped
    key: str  # service_key / route_key
    owner: str  # the team that owns the service
    reason: str
    at: str  # ISO 8601 UTC
    by: str  # operator and client address

    def json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def stop_from(item: Any) -> Stop:
    """A Stop from its JSON object; raises ValueError for anything else."""
    try:
        return Stop(**item)
    except TypeError:
        raise ValueError("not a stop") from None


class StoreUnavailable(Exception):
    """A write the store refused or could not take: the admin API answers 503 and nothing changed."""


class StopStore:
    """The stops in force, as this process last read them, and how they are read and written."""

    kind = "memory"  # the ``store`` label of the failure counter and of the log

    def __init__(self) -> None:
        self.stops: dict[str, Stop] = {}
        self.next_check = 0.0  # monotonic time of the next refresh
        self.healthy = True

    def refresh(self, now: float | None = None) -> None:
        """Bring ``stops`` up to date if the store changed; never blocks on the network."""
        self.next_check = (time.monotonic() if now is None else now) + POLL_S

    async def load(self) -> None:
        """Read the store once, waiting for the answer: before a process says it is ready."""
        self.refresh()

    async def stop(self, stop: Stop) -> None:
        self.stops = self.stops | {stop.key: stop}

    async def start(self, key: str) -> Stop | None:
        """Remove a stop; the one removed, or None when it was not stopped."""
        stops = dict(self.stops)
        removed = stops.pop(key, None)
        self.stops = stops
        return removed

    def counts(self) -> dict[str, int]:
        counts = {"service": 0, "route": 0}
        for stop in self.stops.values():
            counts[stop.kind] = counts.get(stop.kind, 0) + 1
        return counts

    def describe(self) -> str:
        return "this process's memory (no state directory)"

    # --- failures: logged once each way, counted every time ------------------------------------------

    def failed(self, operation: str, error: BaseException | str) -> None:
        FAILURES[self.kind, operation] += 1
        if self.healthy:
            self.healthy = False
            what = error if isinstance(error, str) else type(error).__name__
            log.warning(
                "the stop store %s cannot be %s (%s): the last stops known keep applying",
                self.describe(),
                "read" if operation == "read" else "written",
                what,
            )

    def succeeded(self) -> None:
        if not self.healthy:
            self.healthy = True
            log.warning("the stop store %s answers again", self.describe())


class FileStops(StopStore):
    """``DIRECTORY/stops.json``, shared by every process on this host that is given the directory."""

    kind = "file"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.path = directory / "stops.json"
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) of the file last read
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.failed("write", exc.strerror or str(exc))
        self.refresh()

    def describe(self) -> str:
        return str(self.path)

    def refresh(self, now: float | None = None) -> None:
        """Re-read the file when it changed (another process's stop or start)."""
        super().refresh(now)
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self.stops = {}
            self._seen = None
            return
        except OSError as exc:
            self.failed("read", exc.strerror or str(exc))
            return
        seen = (info.st_ino, info.st_size, info.st_mtime_ns)
        if seen != self._seen:
            self.stops = self._read()
            self._seen = seen

    def _read(self) -> dict[str, Stop]:
        try:
            data = json.loads(self.path.read_text())
            stops = {item["key"]: stop_from(item) for item in data["stops"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # a damaged file: keep what was in force rather than reopen everything
            self.failed("read", f"{self.path.name} is damaged: {type(exc).__name__}")
            return self.stops
        self.succeeded()
        return stops

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Stop]]:
        """The stops as on disk, under an exclusive lock; what the block leaves in them is written."""
        try:
            with open(self.path.with_suffix(".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                stops = self._read()
                yield stops
                temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
                temporary.write_text(json.dumps({"stops": [asdict(s) for s in stops.values()]}, indent=1))
                os.replace(temporary, self.path)
        except OSError as exc:
            self.failed("write", exc.strerror or str(exc))
            raise StoreUnavailable(f"the stop store cannot be written: {exc.strerror or exc}") from None
        self._seen = None
        self.refresh()

    async def stop(self, stop: Stop) -> None:
        with self._locked() as stops:
            stops[stop.key] = stop

    async def start(self, key: str) -> Stop | None:
        with self._locked() as stops:
            return stops.pop(key, None)


_stores: dict[tuple[str, ...], StopStore] = {}


def file_store(state_dir: Path | None, edge: str = "", environment: str = "") -> StopStore:
    """This process's store for a deployment in ``state_dir`` (memory only without one); pipelines
    rebuilt by a reload share it."""
    if state_dir is None:
        key: tuple[str, ...] = ("memory", edge, environment)
    else:
        key = ("file", str(state_dir.resolve()), edge, environment)
    store = _stores.get(key)
    if store is None:
        directory = deployment_dir(state_dir, edge, environment) if state_dir is not None else None
        store = _stores[key] = FileStops(directory) if directory is not None else StopStore()
        if state_dir is not None and (state_dir / "stops.json").exists():
            # stops were once kept per directory only: say so rather than lift them silently
            log.warning(
                "%s holds stops in the old layout, which no deployment reads: stop them again through "
                "the admin API (they are now kept in %s), then remove the file",
                state_dir / "stops.json",
                store.describe(),
            )
    return store


def store_for(plan: Plan, context: StageContext | None = None) -> StopStore:
    """The store this deployment's stops live in: the Edge's Redis with ``rate_limits.store: redis``,
    the state directory otherwise."""
    state_dir = context.state_dir if context is not None else None
    edge, environment = plan.edge.name, plan.environment
    limits = plan.edge.spec.rate_limits
    if limits is None or limits.store != "redis":
        return file_store(state_dir, edge, environment)
    from frontdoor.policy.stopredis import RedisStops, stops_key
    from frontdoor.protection.stages import redis_url

    url = redis_url(plan)
    key = ("redis", url, edge, environment, str(os.getpid()))
    store = _stores.get(key)
    if store is None:
        cache = deployment_dir(state_dir, edge, environment) if state_dir is not None else None
        store = _stores[key] = RedisStops(url, stops_key(edge, environment), cache)
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
