"""The stores a deployment's stops live in, and what one stop is (policy/killswitch.py explains the design).

FileStops keeps them in the state directory; RedisStops (policy/stopredis.py) in the Edge's Redis. Both
are StopStores: the kill switch stage reads a store's copy of the stops, the admin API writes through it.
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

from frontdoor.statedir import deployment_dir

log = logging.getLogger("frontdoor.killswitch")
POLL_S = 0.5

#: (store, operation) -> failures, for ``frontdoor_stop_store_failures_total``; for the life of the process
FAILURES: Counter[tuple[str, str]] = Counter()


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


#: this process's stores, one per deployment and process: every stage and the admin API share one
OPEN_STORES: dict[tuple[str, ...], StopStore] = {}


def file_store(state_dir: Path | None, edge: str = "", environment: str = "") -> StopStore:
    """This process's store for a deployment in ``state_dir`` (memory only without one); pipelines
    rebuilt by a reload share it."""
    if state_dir is None:
        key: tuple[str, ...] = ("memory", edge, environment)
    else:
        key = ("file", str(state_dir.resolve()), edge, environment)
    store = OPEN_STORES.get(key)
    if store is None:
        directory = deployment_dir(state_dir, edge, environment) if state_dir is not None else None
        store = OPEN_STORES[key] = FileStops(directory) if directory is not None else StopStore()
        if state_dir is not None and (state_dir / "stops.json").exists():
            # stops were once kept per directory only: say so rather than lift them silently
            log.warning(
                "%s holds stops in the old layout, which no deployment reads: stop them again through "
                "the admin API (they are now kept in %s), then remove the file",
                state_dir / "stops.json",
                store.describe(),
            )
    return store
