"""Operating one gateway process: loading and reloading the contract, and what the admin API shows of it.

A reload is triggered by SIGHUP, ``POST /admin/reload`` or a change under the contract directory
(watchfiles, debounced). The new contract is loaded, validated and compiled before anything changes: if
it is invalid the old plan keeps serving, and the error goes to the log, the reload-failure counter and
``/admin/verdict``; if it is valid the gateway swaps the new runtime in for new requests.

With ``--workers N`` every worker reloads: SIGHUP is forwarded by the parent, each worker watches the
directory itself, and ``POST /admin/reload`` (answered by one worker) bumps a reload epoch in the
deployment's run directory that the other workers poll every POLL_S.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from frontdoor.access.signedout_store import signed_out_store
from frontdoor.contract.load import Contract, load_valid_contract
from frontdoor.errors import FrontdoorError
from frontdoor.observe import metrics
from frontdoor.observe.audit import AuditLog
from frontdoor.plan import Plan, PlannedRoute, compile_plan
from frontdoor.policy.admission import StageContext
from frontdoor.policy.killswitch import route_id, store_for
from frontdoor.policy.stops import StopStore
from frontdoor.report.jsonout import environment_json, route_json, team_json
from frontdoor.secretstore import read_secret
from frontdoor.statedir import deployment_dir
from frontdoor.verdict.environment import RouteViews, environment_verdict, team_oncall

log = logging.getLogger("frontdoor.control")
POLL_S = 0.5
DEBOUNCE_MS = 400
_CONTRACT_SUFFIXES = (".yaml", ".yml")


def contract_hash(directory: Path) -> str:
    """sha256 over every file of the contract directory (names and contents), hidden ones excepted."""
    from frontdoor.contract.source import contract_files

    digest = hashlib.sha256()
    found = {
        p
        for p in directory.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    }
    files = sorted(found | set(contract_files(directory)))  # with those of symlinked folders

    for path in files:
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            continue
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass
class ContractView:
    """What the admin API shows of the contract being served, built once per load."""

    environment: str
    hash: str
    loaded_at: float  # wall clock
    plan: Plan
    routes: list[dict[str, Any]]
    verdict: dict[str, Any]
    operators: list[dict[str, Any]]
    by_id: dict[str, PlannedRoute]  # route id -> the route (its first entrypoint's)
    clauses: dict[str, str]  # route id -> "file:line" of the route in the contract
    services: dict[str, str]  # exposed service -> owner team
    oncall: dict[str, str | None]  # team -> its primary on-call, for rows that are not routes (unmatched)
    admin_token: bytes | None  # None: the admin API refuses every request

    @classmethod
    def build(cls, directory: Path, contract: Contract, plan: Plan) -> ContractView:
        views = RouteViews(contract, plan)
        routes = []
        by_id: dict[str, PlannedRoute] = {}
        clauses: dict[str, str] = {}
        for entrypoint, route in plan.routes():
            rid = route_id(route)
            by_id.setdefault(rid, route)
            oncall = team_oncall(contract, route.owner)
            view = views.view(entrypoint, route)
            if view.where is not None:
                clauses[rid] = f"{view.where.file}:{view.where.line}"
            routes.append(
                {"id": rid, **route_json(view), "owner": route.owner}
                | {"oncall": oncall.primary, "escalation": oncall.escalation}
            )
        edge = plan.edge.spec
        return cls(
            environment=plan.environment,
            hash=contract_hash(directory),
            loaded_at=time.time(),
            plan=plan,
            routes=routes,
            verdict=environment_json(environment_verdict(contract, plan.environment), strict=False),
            operators=[
                team_json(team_oncall(contract, t)) for t in (edge.admin.operators if edge.admin else ())
            ],
            by_id=by_id,
            clauses=clauses,
            services={r.service: r.owner for _, r in plan.routes()},
            oncall={name: team_oncall(contract, name).primary for name in contract.teams},
            admin_token=_admin_token(plan),
        )


def _admin_token(plan: Plan) -> bytes | None:
    admin = plan.edge.spec.admin
    if admin is None:
        return None  # no admin listener at all
    if admin.token is None:
        log.warning("the Edge names no admin token (spec.admin.token): the admin API refuses every request")
        return None
    try:
        token = read_secret(admin.token, plan.environment_doc).strip()
    except FrontdoorError as exc:
        log.error("the admin API refuses every request: %s", exc)
        return None
    if not token:
        log.error("the admin token %s is empty: the admin API refuses every request", admin.token)
        return None
    return token


def load_view(directory: Path, environment: str) -> ContractView:
    """The contract, validated and compiled; raises FrontdoorError with every error if it is invalid."""
    contract = load_valid_contract(directory)
    plan = compile_plan(contract, environment)
    return ContractView.build(directory, contract, plan)


#: what a process builds from a Plan to decide requests: serve's Runtime, authz's AuthzRuntime
R = TypeVar("R")


@dataclass
class ReloadResult:
    ok: bool
    trigger: str
    at: str
    hash: str | None = None
    error: str | None = None

    def json(self) -> dict[str, Any]:
        return {"ok": self.ok, "trigger": self.trigger, "at": self.at, "hash": self.hash, "error": self.error}


@dataclass
class Operations(Generic[R]):
    """One process's operating state (serve's or authz's), shared by the admin API, reloads and the
    periodic work. ``build`` makes what decides requests from a Plan; ``install`` swaps a reloaded one in."""

    directory: Path
    environment: str
    loop: asyncio.AbstractEventLoop
    build: Callable[[Plan], R]
    context: StageContext | None = None
    run_dir: Path | None = None  # this deployment's shared scratch: metrics snapshots, reload epoch
    watch: bool = True
    view: ContractView | None = None
    last_reload: ReloadResult | None = None
    install: Callable[[R], None] | None = None
    stops: StopStore = field(init=False)
    audit: AuditLog = field(init=False)
    _epoch_seen: tuple[int, int] | None = None
    _watcher: asyncio.Task[None] | None = None
    _stopping: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self.stops = StopStore()  # until the first load names the deployment (Edge and environment)
        self.audit = AuditLog(None)
        recorder = metrics.recorder()
        recorder.snapshot_dir = self.run_dir
        recorder.events.environment = self.environment
        self._epoch_seen = self._epoch_stat()

    @property
    def workers(self) -> int:
        return self.context.workers if self.context else 1

    def load(self) -> R:
        runtime, view = self._load()
        self._installed(view)
        return runtime

    async def read_stops(self) -> None:
        """Read the stop store once, waiting for it, and the signed-out sessions where browsers sign
        in: before the process says it is ready, so both apply from the first request."""
        await self.stops.load()
        if self.view is None:
            return
        plan = self.view.plan
        if any(p.login is not None for p in plan.edge.spec.identity.providers):
            await signed_out_store(plan, self.context.state_dir if self.context else None).load()

    def _load(self) -> tuple[R, ContractView]:
        view = load_view(self.directory, self.environment)
        return self.build(view.plan), view

    def _installed(self, view: ContractView) -> None:
        self.view = view
        # the deployment's store and audit log: the same the pipeline's kill-switch stage reads
        self.stops = store_for(view.plan, self.context)
        state_dir = self.context.state_dir if self.context else None
        edge = view.plan.edge.name
        directory = None if state_dir is None else deployment_dir(state_dir, edge, view.environment)
        if self.audit.path is None or directory is None or self.audit.path.parent != directory:
            self.audit = AuditLog(directory)
        events = metrics.recorder().events
        events.contract_hash = view.hash
        events.contract_loaded_at = view.loaded_at

    # --- reload --------------------------------------------------------------------------------------

    def reload(self, trigger: str) -> ReloadResult:
        """Load the contract again; swap it in if valid, keep the old plan and say why if not."""
        events = metrics.recorder().events
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            runtime, view = self._load()
        except FrontdoorError as exc:
            events.reloads_failed += 1
            self.last_reload = ReloadResult(False, trigger, at, error=str(exc))
            log.error("reload (%s) refused, the previous contract keeps serving: %s", trigger, exc)
            return self.last_reload
        except Exception as exc:  # a bug in loading must not take the running gateway down
            events.reloads_failed += 1
            self.last_reload = ReloadResult(False, trigger, at, error=f"internal error: {exc!r}")
            log.exception("reload (%s) failed, the previous contract keeps serving", trigger)
            return self.last_reload
        if self.install is not None:
            self.install(runtime)
        self._installed(view)
        events.reloads_ok += 1
        self.last_reload = ReloadResult(True, trigger, at, hash=view.hash)
        log.info("reloaded the contract from %s (%s, %s)", self.directory, trigger, view.hash[:12])
        return self.last_reload

    def reload_everywhere(self, trigger: str) -> ReloadResult:
        """Reload this worker, and tell the others (through the epoch file) to do the same."""
        result = self.reload(trigger)
        if self.run_dir is not None and self.workers > 1:
            epoch = self.run_dir / "reload-epoch"
            temporary = self.run_dir / f".reload-epoch.{os.getpid()}"
            temporary.write_text(f"{time.time_ns()} {os.getpid()}\n")
            os.replace(temporary, epoch)
            self._epoch_seen = self._epoch_stat()  # this worker has reloaded already
        return result

    def _epoch_stat(self) -> tuple[int, int] | None:
        if self.run_dir is None:
            return None
        try:
            info = os.stat(self.run_dir / "reload-epoch")
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns)

    # --- periodic work --------------------------------------------------------------------------------

    def start(self, on_tick: Callable[[], None] | None = None) -> None:
        """The once-a-second metrics tick, the peer-reload poll, and the contract watch."""
        self._stopping = asyncio.Event()
        self._poll(on_tick)
        if self.watch:
            self._watcher = self.loop.create_task(self._watch())

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._watcher is not None:
            self._watcher.cancel()
        metrics.recorder().tick()

    def _poll(self, on_tick: Callable[[], None] | None, count: int = 0) -> None:
        if self._stopping is None or self._stopping.is_set():
            return
        seen = self._epoch_stat()
        if seen is not None and seen != self._epoch_seen:
            self._epoch_seen = seen
            self.reload("peer")
        self.stops.refresh()
        if count % int(1 / POLL_S) == 0:
            metrics.recorder().events.stopped = self.stops.counts()
            if on_tick is not None:
                on_tick()
            metrics.recorder().tick()
        self.loop.call_later(POLL_S, self._poll, on_tick, count + 1)

    async def _watch(self) -> None:
        try:
            import watchfiles
        except ImportError:  # pragma: no cover - a dependency
            log.warning("watchfiles is not installed: the contract directory is not watched")
            return

        def contract_file(_change: watchfiles.Change, path: str) -> bool:
            return path.endswith(_CONTRACT_SUFFIXES) and "/." not in path

        try:
            async for _changes in watchfiles.awatch(
                self.directory, watch_filter=contract_file, debounce=DEBOUNCE_MS, stop_event=self._stopping
            ):
                self.reload("watch")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watching %s failed: reload with SIGHUP or POST /admin/reload", self.directory)
