"""The kill switch: services and routes an operator stopped, and the first pipeline stage that enforces it.

Stops live in ``STATE_DIR/stops.json``, so they survive a restart and a reload, and every worker of the
deployment sees them: a write takes an exclusive lock, re-reads the file, changes it and replaces it
atomically; a reader notices a new file by its stat (at most every POLL_S, checked on the request path
with one comparison of the monotonic clock). Without a state directory the stops are the process's own.

A route is stopped by its key (service, methods, path), not by its position, so a contract edit that
reorders routes does not move a stop onto another route.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from frontdoor.plan import Plan, PlannedRoute
from frontdoor.policy.pipeline import Admission, Denial, Verdict

POLL_S = 0.5
_RETRY_AFTER = ((b"retry-after", b"60"),)


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


class StopStore:
    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / "stops.json" if state_dir is not None else None
        self.stops: dict[str, Stop] = {}
        self.next_check = 0.0  # monotonic time of the next stat of the file
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) of the file last read
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.refresh()

    def refresh(self, now: float | None = None) -> None:
        """Re-read the file when it changed (another worker's stop or start)."""
        self.next_check = (time.monotonic() if now is None else now) + POLL_S
        if self.path is None:
            return
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self.stops = {}
            self._seen = None
            return
        seen = (info.st_ino, info.st_size, info.st_mtime_ns)
        if seen != self._seen:
            self.stops = self._read()
            self._seen = seen

    def _read(self) -> dict[str, Stop]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text())
            return {item["key"]: Stop(**item) for item in data["stops"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError):
            return self.stops  # a damaged file: keep what was in force rather than reopen everything

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Stop]]:
        """The stops as on disk, under an exclusive lock; what the block leaves in them is written."""
        if self.path is None:
            yield self.stops
            return
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stops = self._read()
            yield stops
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"stops": [asdict(s) for s in stops.values()]}, indent=1))
            os.replace(temporary, self.path)
        self._seen = None
        self.refresh()

    def stop(self, stop: Stop) -> None:
        with self._locked() as stops:
            stops[stop.key] = stop

    def start(self, key: str) -> Stop | None:
        """Remove a stop; the one removed, or None when it was not stopped."""
        with self._locked() as stops:
            return stops.pop(key, None)

    def counts(self) -> dict[str, int]:
        counts = {"service": 0, "route": 0}
        for stop in self.stops.values():
            counts[stop.kind] = counts.get(stop.kind, 0) + 1
        return counts


_stores: dict[Path | None, StopStore] = {}


def store_for(state_dir: Path | None) -> StopStore:
    """One store per state directory in a process: pipelines rebuilt by a reload share it."""
    key = state_dir.resolve() if state_dir is not None else None
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = StopStore(state_dir)
    return store


class KillSwitchStage:
    """503 for a stopped service or route, naming the owner, the reason and when it was stopped."""

    name = "kill-switch"

    def __init__(self, plan: Plan, store: StopStore) -> None:
        self.store = store
        self.keys = {id(r): (service_key(r.service), route_key(r)) for _, r in plan.routes()}

    def check(self, admission: Admission) -> Verdict:
        store = self.store
        stops = store.stops
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
            kind="kill-switch",
        )
