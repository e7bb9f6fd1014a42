"""The gateway's metrics: recorded per request into plain dicts, exposed to Prometheus at scrape time.

The request path does one ``Recorder.record`` call: a dict lookup and a few integer additions on the
route's ``Stat`` for the current second. Once a second ``tick`` folds that second into the process
totals and the traffic windows, and writes the process's snapshot file. A scrape (on any worker:
SO_REUSEPORT spreads them) merges every live worker's snapshot, so each worker answers for the whole
deployment; observe/exposition.py turns the merge into Prometheus families. No prometheus_client
call is made per request.

Circuit states are read once a second from the pipeline's stages that have a ``state()`` (the
protection stage's per-service breakers), and the protection counters (protection/counters.py) are
read then too; other code may report with ``set_circuit_state(service, endpoint, state)``.
Rate-limited and shed requests are counted from their Denial's ``kind`` (see RATE_LIMIT_KINDS and
SHED_KINDS); every deny is also counted by kind and rule.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from frontdoor.observe.history import STEP_S, History
from frontdoor.observe.traffic import (
    WINDOWS,
    RouteKey,
    Stat,
    Table,
    Window,
    bucket,
    merge_into,
    table_from_json,
    table_json,
)

#: methods labelled by name; any other method is labelled "other" (llhttp knows a few dozen)
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
RATE_LIMIT_KINDS: Final = frozenset({"rate-limit"})
SHED_KINDS: Final = frozenset({"shed", "circuit-open"})
CIRCUIT_STATES = {"closed": 0, "half-open": 1, "open": 2}
#: a worker's snapshot older than this is not merged (the worker is gone or hung)
STALE_S = 30.0


@dataclass
class Events:
    """What happens to the process rather than to a request."""

    reloads_ok: int = 0
    reloads_failed: int = 0
    contract_hash: str = ""
    contract_loaded_at: float = 0.0  # wall-clock seconds
    environment: str = ""
    stopped: dict[str, int] = field(default_factory=dict)  # "service" / "route" -> how many are stopped


class Recorder:
    def __init__(self) -> None:
        self.second: Table = {}  # the current second, per route
        self.totals: Table = {}  # since the process started
        self.windows = [Window(seconds) for seconds in WINDOWS]
        self.circuit: dict[tuple[str, str], int] = {}
        self.events = Events()
        #: the gateway's in-flight requests by service, asked once per tick
        self.inflight: Callable[[], dict[str, int]] = dict
        #: circuit states the stages know, by (service, endpoint or ""), asked once per snapshot
        self.circuits: Callable[[], dict[tuple[str, str], int]] = dict
        self.snapshot_dir: Path | None = None
        self._last_tick = time.monotonic()
        self.history = History()  # the deployment's last 15 minutes, sampled every history.STEP_S
        self._history_due = 0.0

    # --- the request path ----------------------------------------------------------------------------

    def record(
        self,
        key: RouteKey,
        method: str,
        status: int,
        seconds: float,
        deny_kind: str = "",
        deny_rule: str = "",
        upstream_error: str = "",
        version: str = "",
    ) -> None:
        """``version`` is the request's HTTP version as the head has it ("1.1", "2"), "" where the
        client's protocol is not seen (authz's checks): it becomes the ``protocol`` label at scrape time,
        so the request path only adds it to a key it already builds."""
        stat = self.second.get(key)
        if stat is None:
            stat = self.second[key] = Stat()
        stat.requests += 1
        if status >= 500:
            stat.errors += 1
        stat.hist[bucket(seconds)] += 1
        stat.sum += seconds
        codes = stat.codes
        code = (method, status // 100, version)
        codes[code] = codes.get(code, 0) + 1
        if deny_kind:
            denies = stat.denies
            reason = (deny_kind, deny_rule)
            denies[reason] = denies.get(reason, 0) + 1
        if upstream_error:
            stat.upstream[upstream_error] = stat.upstream.get(upstream_error, 0) + 1

    # --- once a second -------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Fold the current second into the totals and the windows, then write the snapshot."""
        now = time.monotonic() if now is None else now
        second, self.second = self.second, {}
        merge_into(self.totals, second)
        # seconds that passed without a tick (a busy loop) enter the windows as empty ones
        missed = min(int(now - self._last_tick) - 1, WINDOWS[-1])
        self._last_tick = now
        for window in self.windows:
            for _ in range(missed):
                window.push({})
            window.push(second)
        if self.snapshot_dir is not None:
            self.write_snapshot(self.snapshot_dir)
        if now >= self._history_due:
            self._history_due = now + STEP_S
            self.history.sample(deployment(self.snapshot_dir, self).totals, time.time())

    def snapshot(self) -> dict[str, Any]:
        """This process's numbers, the second in progress included."""
        events = self.events
        current = self.second

        def with_current(table: Table) -> Table:
            if not current:
                return table
            copy: Table = {}
            merge_into(copy, table)
            merge_into(copy, current)
            return copy

        return {
            "pid": os.getpid(),
            "time": time.time(),
            "totals": table_json(with_current(self.totals)),
            "windows": {str(w.seconds): table_json(with_current(w.sum)) for w in self.windows},
            "circuit": [[s, e, v] for (s, e), v in (self.circuit | self.circuits()).items()],
            "protection": [[name, service, n] for (name, service), n in _protection_counters().items()],
            "signins": [[*key, n] for key, n in _signin_counters().items()],
            "limited": [list(row) for row in _limited_clients()],
            "stop_store_failures": [[store, op, n] for (store, op), n in _stop_store_failures().items()],
            "signout_store_failures": [[s, op, n] for (s, op), n in _signout_store_failures().items()],
            "inflight": self.inflight(),
            "events": {
                "reloads_ok": events.reloads_ok,
                "reloads_failed": events.reloads_failed,
                "contract_hash": events.contract_hash,
                "contract_loaded_at": events.contract_loaded_at,
                "environment": events.environment,
                "stopped": events.stopped,
            },
        }

    def write_snapshot(self, directory: Path) -> None:
        """Replace this process's snapshot file atomically: a reader sees the old one or the new one."""
        data = json.dumps(self.snapshot(), separators=(",", ":"))
        path = directory / f"worker-{os.getpid()}.json"
        temporary = directory / f".worker-{os.getpid()}.tmp"
        try:
            temporary.write_text(data)
            os.replace(temporary, path)
        except OSError:
            pass  # metrics must never take the gateway down; the next tick tries again

    def forget_snapshot(self) -> None:
        if self.snapshot_dir is not None:
            with contextlib.suppress(OSError):
                (self.snapshot_dir / f"worker-{os.getpid()}.json").unlink()


# --- the process's recorder, for stages ---------------------------------------------------------------

_recorder = Recorder()


def recorder() -> Recorder:
    return _recorder


def set_circuit_state(service: str, endpoint: str, state: str) -> None:
    """A circuit breaker reports its state: "closed", "half-open" or "open"."""
    _recorder.circuit[(service, endpoint)] = CIRCUIT_STATES[state]


def _protection_counters() -> dict[tuple[str, str], int]:
    from frontdoor.protection.counters import snapshot

    return snapshot()


def _signin_counters() -> dict[tuple[str, str, str], int]:
    from frontdoor.access.signincounts import snapshot

    return snapshot()


def _limited_clients() -> list[tuple[str, str, str, int]]:
    from frontdoor.protection.limitedclients import snapshot

    return snapshot()


def _stop_store_failures() -> dict[tuple[str, str], int]:
    from frontdoor.policy.stops import FAILURES

    return dict(FAILURES)


def _signout_store_failures() -> dict[tuple[str, str], int]:
    from frontdoor.access.signedout import FAILURES

    return dict(FAILURES)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


# --- merging the workers -------------------------------------------------------------------------------


@dataclass
class Merged:
    """The deployment's numbers: every live worker's snapshot added up."""

    workers: int = 0
    totals: Table = field(default_factory=dict)
    windows: dict[int, Table] = field(default_factory=dict)
    circuit: dict[tuple[str, str], int] = field(default_factory=dict)
    inflight: dict[str, int] = field(default_factory=dict)
    protection: dict[tuple[str, str], int] = field(default_factory=dict)
    signins: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (provider, outcome, owner)
    #: 429s of the last minute by (service, client kind, client): each worker's top, added up
    limited: dict[tuple[str, str, str], int] = field(default_factory=dict)
    stop_store_failures: dict[tuple[str, str], int] = field(default_factory=dict)  # (store, operation)
    signout_store_failures: dict[tuple[str, str], int] = field(default_factory=dict)  # (store, operation)
    events: dict[str, Any] = field(default_factory=dict)


def _snapshots(directory: Path) -> Iterator[dict[str, Any]]:
    now = time.time()
    for path in directory.glob("worker-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a worker that just exited, or a torn file from a crash
        if now - float(data.get("time", 0)) <= STALE_S:
            yield data


def merge(snapshots: Iterable[dict[str, Any]]) -> Merged:
    merged = Merged(windows={seconds: {} for seconds in WINDOWS})
    latest_load = -1.0
    for data in snapshots:
        merged.workers += 1
        merge_into(merged.totals, table_from_json(data["totals"]))
        for seconds, table in data["windows"].items():
            merge_into(merged.windows.setdefault(int(seconds), {}), table_from_json(table))
        for service, endpoint, state in data["circuit"]:
            key = (str(service), str(endpoint))
            merged.circuit[key] = max(merged.circuit.get(key, 0), int(state))  # the worst any worker sees
        for name, service, count in data.get("protection", ()):
            key = (str(name), str(service))
            merged.protection[key] = merged.protection.get(key, 0) + int(count)
        for provider, outcome, owner, count in data.get("signins", ()):
            key3 = (str(provider), str(outcome), str(owner))
            merged.signins[key3] = merged.signins.get(key3, 0) + int(count)
        for service, kind, client, count in data.get("limited", ()):
            key3 = (str(service), str(kind), str(client))
            merged.limited[key3] = merged.limited.get(key3, 0) + int(count)
        for store, operation, count in data.get("stop_store_failures", ()):
            key = (str(store), str(operation))
            merged.stop_store_failures[key] = merged.stop_store_failures.get(key, 0) + int(count)
        for store, operation, count in data.get("signout_store_failures", ()):
            key = (str(store), str(operation))
            merged.signout_store_failures[key] = merged.signout_store_failures.get(key, 0) + int(count)
        for service, count in data["inflight"].items():
            merged.inflight[service] = merged.inflight.get(service, 0) + int(count)
        events = data["events"]
        # each worker reloads itself: the count is of reloads done, summed over the workers
        for name in ("reloads_ok", "reloads_failed"):
            merged.events[name] = merged.events.get(name, 0) + int(events[name])
        if float(events["contract_loaded_at"]) > latest_load:
            latest_load = float(events["contract_loaded_at"])
            for name in ("contract_hash", "contract_loaded_at", "environment", "stopped"):
                merged.events[name] = events[name]
    return merged


def deployment(directory: Path | None, own: Recorder | None = None) -> Merged:
    """This process's numbers merged with every other live worker's (written within STALE_S)."""
    own = own or _recorder
    if directory is None:
        return merge([own.snapshot()])
    pid = os.getpid()
    others = (s for s in _snapshots(directory) if s.get("pid") != pid)
    return merge([own.snapshot(), *others])
