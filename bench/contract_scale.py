"""How frontdoor scales: generate a large, realistic, valid contract and time load, check and the CLI.

The generated contract is what a company of ~25 app teams would write: one file per Service (grouped
by team), every team in teams.yaml, one Edge per environment group (dev on loopback without TLS, and a
TLS Edge for test and prod), three Environments with upstreams for every service and every secret the
Edges use. It is checked to be valid and production-ready before anything is timed, so the benchmark
measures the real path, not an early exit on an error.

    .venv/bin/python bench/contract_scale.py                      # 500 services x 10 routes
    .venv/bin/python bench/contract_scale.py --services 100 --repeat 3
    .venv/bin/python bench/contract_scale.py --out /tmp/big       # keep the contract to profile it
    .venv/bin/python bench/contract_scale.py --profile 25         # also print a cProfile of one check
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from frontdoor.contract.load import load_contract
from frontdoor.report.check import run_check
from frontdoor.report.jsonout import check_json

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 2.0  # load + check of 500 services / 5,000 routes

_Dumper: type[Any] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

DOMAINS = (
    "accounts", "billing", "catalog", "checkout", "content", "delivery", "fraud", "identity",
    "inventory", "loyalty", "marketing", "media", "messaging", "notifications", "orders", "partners",
    "payments", "pricing", "profiles", "promotions", "recommendations", "returns", "reviews", "search",
    "shipping",
)  # fmt: skip
COMPONENTS = (
    "api", "admin", "search", "reports", "export", "import", "sync", "gateway", "ledger", "audit",
    "feeds", "web", "mobile", "batch", "jobs", "rules", "config", "analytics", "archive", "events",
)  # fmt: skip
PARTNERS = ("acme", "globex", "initech", "umbrella", "hooli")
PLATFORM, DELIVERY = "platform", "release-eng"


# --- the generated contract ------------------------------------------------------------------------


@dataclass(frozen=True)
class AppTeam:
    name: str
    domain: str
    index: int


@dataclass(frozen=True)
class ServiceName:
    index: int
    name: str
    team: AppTeam
    base: str  # the path prefix every route of the service lives under
    public: bool
    openapi: bool

    @property
    def batch_client(self) -> str:
        return f"{self.team.domain}-batch"


@dataclass(frozen=True)
class Generated:
    root: Path
    teams: int
    services: int
    public_services: int
    routes: int
    files: int
    documents: int
    bytes: int


def _app_teams(count: int) -> list[AppTeam]:
    teams = []
    for i in range(count):
        domain = DOMAINS[i % len(DOMAINS)] + (str(i // len(DOMAINS)) if i >= len(DOMAINS) else "")
        teams.append(AppTeam(f"{domain}-team", domain, i))
    return teams


def _service_names(count: int, teams: list[AppTeam]) -> list[ServiceName]:
    services = []
    for i in range(count):
        team = teams[i % len(teams)]
        slot = i // len(teams)
        component = COMPONENTS[slot % len(COMPONENTS)]
        if slot >= len(COMPONENTS):
            component += str(slot // len(COMPONENTS))
        services.append(
            ServiceName(
                index=i,
                name=f"{team.domain}-{component}",
                team=team,
                base=f"/{team.domain}/{component}",
                public=i % 10 != 9,  # one service in ten is internal (only other services call it)
                openapi=i % 10 == 0,
            )
        )
    return services


def _dump(path: Path, documents: list[dict[str, Any]], comment: str | None = None) -> int:
    """Write ``documents`` as a hand-written-looking multi-document YAML file; return its size."""
    text = yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True
    )
    if comment:
        text = f"# {comment}\n{text}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


def _team_doc(name: str, role: str, chat: str, hours: str = "24x7") -> dict[str, Any]:
    return {
        "apiVersion": "frontdoor/v1",
        "kind": "Team",
        "metadata": {"name": name},
        "spec": {
            "role": role,
            "oncall": {
                "primary": f"pagerduty:{name}-primary",
                "escalation": f"pagerduty:{name}-lead",
                "hours": hours,
            },
            "contact": {"chat": f"#{chat}", "email": f"{name}@example.com"},
            "runbooks": f"https://runbooks.example.com/{name}",
        },
    }


def _routes(service: ServiceName, count: int) -> list[dict[str, Any]]:
    base, name = service.base, service.name
    read, write = f"{name}:read", f"{name}:write"
    partners = [f"partner-{PARTNERS[(service.index + k) % len(PARTNERS)]}" for k in (0, 1)]
    templates: list[dict[str, Any]] = [
        {"path": base, "methods": ["GET", "HEAD"], "access": {"scopes": [read]}},
        {"path": base, "methods": ["POST", "PUT", "PATCH", "DELETE"], "access": {"scopes": [write]}},
        {"path": f"={base}/status", "methods": ["GET"], "access": "public"},
        {"path": f"{base}/admin", "access": {"claims": {"role": "admin"}}},
        {
            "path": f"{base}/batch",
            "methods": ["POST"],
            "access": {"clients": [service.batch_client]},
            "strip_prefix": False,
        },
        {"path": f"{base}/me", "methods": ["GET"], "access": "authenticated"},
        {
            "path": f"={base}/export",
            "methods": ["GET"],
            "access": {"scopes": [f"{name}:export"], "claims": {"department": "finance"}},
        },
        {"path": f"{base}/v2/items", "methods": ["GET", "HEAD"], "access": "public"},
        {
            "path": f"{base}/v2/items",
            "methods": ["POST", "PATCH"],
            "access": {"scopes": [write], "claims": {"email_verified": True}},
        },
        {"path": f"={base}/webhook", "methods": ["POST"], "access": {"clients": partners}},
    ]
    routes = templates[:count]
    for j in range(len(templates), count):  # beyond ten: more resources, same mix of access forms
        template = templates[j % len(templates)]
        route = {"path": f"{'=' if j % 3 == 0 else ''}{base}/v1/resource-{j}", "access": template["access"]}
        if "methods" in template:
            route["methods"] = template["methods"]
        routes.append(route)
    return routes


def _service_doc(service: ServiceName, services: list[ServiceName], routes: int) -> dict[str, Any]:
    n = len(services)
    produces = [f"{service.name}.changed"]
    if service.index % 3 == 0:
        produces.append(f"{service.name}.deleted")
    # Consume what two other services produce (each topic has exactly one producer).
    consumes = sorted({f"{services[(service.index + k) % n].name}.changed" for k in (1, 7) if k % n})
    spec: dict[str, Any] = {
        "description": f"{service.name.replace('-', ' ').capitalize()} for the {service.team.domain} domain",
        "exposure": "public" if service.public else "internal",
        "health": {"readiness": "/readyz", "liveness": "/livez"},
    }
    if service.openapi:
        spec["api"] = {"openapi": f"openapi/{service.name}.yaml"}
    spec["routes"] = _routes(service, routes)
    spec["events"] = {"produces": produces, "consumes": consumes}
    expected = 20 + (service.index * 37) % 900
    spec["load"] = {"expected_rps": expected, "peak_rps": expected * 3}
    spec["slo"] = {
        "availability": ("99.9", "99.95", "99.99")[service.index % 3],
        "latency_p99_ms": (150, 300, 500)[service.index % 3],
    }
    return {
        "apiVersion": "frontdoor/v1",
        "kind": "Service",
        "metadata": {"name": service.name, "owner": service.team.name},
        "spec": spec,
    }


def _openapi_doc(service: ServiceName) -> dict[str, Any]:
    ok = {"responses": {"200": {"description": "OK"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": service.name, "version": "1.0.0"},
        "paths": {service.base: {"get": ok, "post": ok}, f"{service.base}/v2/items": {"get": ok}},
    }


def _api_clients(teams: list[AppTeam]) -> list[dict[str, Any]]:
    names = [f"{t.domain}-batch" for t in teams] + [f"partner-{p}" for p in PARTNERS]
    return [{"name": n, "key_sha256": f"secret:{n}-key-hash"} for n in names]


def _common_edge_spec() -> dict[str, Any]:
    return {
        "protection": {
            "max_request_body": "1MiB",
            "max_header_bytes": "16KiB",
            "timeouts": {"connect": "2s", "header": "10s", "upstream": "30s", "idle": "60s"},
            "max_inflight_per_service": 256,
            "retries": {"attempts": 2, "only_idempotent": True},
            "circuit_breaker": {"failure_ratio": 0.5, "min_requests": 20, "open_for": "10s"},
        },
        "observability": {
            "access_log": {"format": "json", "redact_headers": ["authorization", "cookie"]},
            "metrics": {"path": "/metrics"},
            "tracing": {"propagate": "w3c"},
        },
        "admin": {"listen": "127.0.0.1:9901", "operators": [PLATFORM], "token": "secret:admin-token"},
    }


def _dev_edge(teams: list[AppTeam]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoints": [{"name": "local", "listen": "127.0.0.1:8080", "hosts": ["*"], "services": ["*"]}],
        "identity": {
            "providers": [
                {
                    "name": "local-idp",
                    "issuer": "http://127.0.0.1:9400/",
                    "audiences": ["company-api"],
                    "algorithms": ["RS256", "ES256"],
                    "jwks_uri": "http://127.0.0.1:9400/keys",
                }
            ],
            "api_clients": _api_clients(teams),
        },
        "rate_limits": {"store": "local", "default": {"requests": 100, "per": "1s", "burst": 200}},
    }
    return {
        "apiVersion": "frontdoor/v1",
        "kind": "Edge",
        "metadata": {"name": "dev-edge", "owner": PLATFORM, "environments": ["dev"]},
        "spec": spec | _common_edge_spec(),
    }


def _public_edge(teams: list[AppTeam], services: list[ServiceName]) -> dict[str, Any]:
    public = [s for s in services if s.public]
    partners = [s.name for s in public if s.index % 5 == 0]
    overrides: dict[str, Any] = {}
    for s in public:
        if s.index % 35 == 0:
            overrides[s.name] = {"requests": 20, "per": "1s", "burst": 40, "key": "api_client"}
        elif s.index % 7 == 0:
            overrides[s.name] = {"requests": 50, "per": "1s", "burst": 100, "key": "subject"}

    def tls(name: str, version: str) -> dict[str, Any]:
        return {
            "cert": f"secret:{name}-tls-cert",
            "key": f"secret:{name}-tls-key",
            "min_version": version,
            "hsts": True,
        }

    spec: dict[str, Any] = {
        "entrypoints": [
            {
                "name": "public",
                "listen": "0.0.0.0:8443",
                "hosts": ["api.example.com", "www.example.com"],
                "tls": tls("api", "1.2"),
                "services": ["*"],
                "trusted_proxies": ["10.0.0.0/8"],
            },
            {
                "name": "partners",
                "listen": "0.0.0.0:9443",
                "hosts": ["partners.example.com"],
                "tls": tls("partners", "1.3"),
                "services": partners or ["*"],
                "trusted_proxies": ["10.0.0.0/8"],
            },
        ],
        "identity": {
            "providers": [
                {
                    "name": "corp-sso",
                    "issuer": "https://login.example.com/",
                    "audiences": ["company-api"],
                    "algorithms": ["RS256", "ES256"],
                    "jwks_uri": "https://login.example.com/keys",
                    "scopes_claim": "scope",
                    "clock_skew_s": 30,
                },
                {
                    "name": "customers",
                    "issuer": "https://id.example.com/",
                    "audiences": ["company-api", "mobile"],
                    "algorithms": ["ES256"],
                    "scopes_claim": "scp",
                },
            ],
            "api_clients": _api_clients(teams),
        },
        "rate_limits": {
            "store": "redis",
            "on_store_failure": "allow",
            "default": {"requests": 100, "per": "1s", "burst": 200, "key": "client"},
            "services": overrides,
        },
    }
    return {
        "apiVersion": "frontdoor/v1",
        "kind": "Edge",
        "metadata": {"name": "public-edge", "owner": PLATFORM, "environments": ["test", "prod"]},
        "spec": spec | _common_edge_spec(),
    }


def _environment(name: str, teams: list[AppTeam], services: list[ServiceName]) -> dict[str, Any]:
    upstreams: dict[str, Any] = {}
    for s in services:
        if name == "dev":
            upstreams[s.name] = [f"http://127.0.0.1:{10000 + s.index % 50000}"]
        elif name == "test":
            upstreams[s.name] = [f"http://10.2.{s.index // 250 % 256}.{s.index % 250 + 1}:8080"]
        else:
            first, second = (
                f"http://10.1.{k // 250 % 256}.{k % 250 + 1}:8080" for k in (2 * s.index, 2 * s.index + 1)
            )
            if s.index % 4 == 0:  # a canary
                upstreams[s.name] = [{"url": first, "weight": 90}, {"url": second, "weight": 10}]
            else:
                upstreams[s.name] = [first, second]
    secrets = {"admin-token": "env:FRONTDOOR_ADMIN_TOKEN"}
    if name != "dev":
        for entrypoint in ("api", "partners"):
            secrets[f"{entrypoint}-tls-cert"] = f"file:/etc/frontdoor/tls/{entrypoint}.crt"
            secrets[f"{entrypoint}-tls-key"] = f"file:/etc/frontdoor/tls/{entrypoint}.key"
        secrets["redis-url"] = "env:FRONTDOOR_REDIS_URL"
    for client in _api_clients(teams):
        variable = client["name"].upper().replace("-", "_") + "_KEY_SHA256"
        secrets[f"{client['name']}-key-hash"] = f"env:{variable}"
    spec: dict[str, Any] = {"production": name == "prod"}
    if name != "dev":
        spec["promotes_from"] = {"test": "dev", "prod": "test"}[name]
    spec["upstreams"] = upstreams
    spec["secrets"] = secrets
    return {
        "apiVersion": "frontdoor/v1",
        "kind": "Environment",
        "metadata": {"name": name, "owner": DELIVERY},
        "spec": spec,
    }


def generate(root: Path, services: int, routes_per_service: int, teams: int) -> Generated:
    """Write the contract under ``root`` (which must be empty or absent)."""
    app_teams = _app_teams(teams)
    names = _service_names(services, app_teams)
    size = files = documents = 0

    def write(path: Path, docs: list[dict[str, Any]], comment: str | None = None) -> None:
        nonlocal size, files, documents
        size += _dump(root / path, docs, comment)
        files += 1
        documents += len(docs)

    team_docs = [
        _team_doc(t.name, "app", t.domain, "business-hours" if t.index % 10 == 7 else "24x7")
        for t in app_teams
    ]
    team_docs.append(_team_doc(PLATFORM, "platform", "platform"))
    team_docs.append(_team_doc(DELIVERY, "delivery", "releases", "business-hours"))
    write(
        Path("teams.yaml"), team_docs, "Every team: the app teams, the platform team and the delivery team."
    )
    for s in names:
        folder = Path("services") / s.team.name
        write(folder / f"{s.name}.yaml", [_service_doc(s, names, routes_per_service)])
        if s.openapi:
            write(folder / "openapi" / f"{s.name}.yaml", [_openapi_doc(s)])
            documents -= 1  # an API description, not a contract document
    write(Path("edges/dev.yaml"), [_dev_edge(app_teams)], "dev: loopback, no TLS, every public service.")
    write(Path("edges/public.yaml"), [_public_edge(app_teams, names)], "test and prod: TLS everywhere.")
    for env in ("dev", "test", "prod"):
        write(Path("environments") / f"{env}.yaml", [_environment(env, app_teams, names)])
    return Generated(
        root=root,
        teams=teams + 2,
        services=services,
        public_services=sum(s.public for s in names),
        routes=services * routes_per_service,
        files=files,
        documents=documents,
        bytes=size,
    )


# --- checking that the benchmark measures the real path --------------------------------------------


def assert_ready(root: Path) -> str:
    """The contract is valid and every environment (prod above all) is ready; otherwise say why and exit.

    Returns a one-line summary; the report itself is dropped, so that its large object graph does not
    stay alive (and slow every garbage collection) while the phases are timed.
    """
    report = run_check(root)
    prod = [v for v in report.environments if v.name == "prod"]
    if report.exit_code != 0 or not prod or not prod[0].production:
        print(f"the generated contract is not ready (exit code {report.exit_code}):", file=sys.stderr)
        for finding in [*report.errors, *report.failing()][:50]:
            print(f"  {finding.severity:7} {finding.render()}", file=sys.stderr)
        if not prod:
            print("  no production environment named prod", file=sys.stderr)
        raise SystemExit(1)
    planned = ", ".join(f"{v.name} {len(v.routes)}" for v in report.environments)
    notes = sum(1 for v in report.environments for f in v.findings if f.severity == "note")
    return f"valid, every environment ready (exit 0); routes planned: {planned}; {notes} note(s)"


# --- timing ----------------------------------------------------------------------------------------


@dataclass
class Timing:
    phase: str
    runs: list[float]  # wall time (perf_counter)
    cpu: list[float]  # CPU time of this process and of the subprocesses it waited for

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def measure(phase: str, action: Callable[[], object], repeat: int, budget: float) -> Timing:
    """Run ``action`` ``repeat`` times (fewer, but at least 3, if it would take longer than ``budget``)."""
    runs: list[float] = []
    cpu: list[float] = []
    gc.collect()  # start every phase from the same heap
    started = time.perf_counter()
    for _ in range(repeat):
        c0 = _cpu_seconds()
        t0 = time.perf_counter()
        action()
        runs.append(time.perf_counter() - t0)
        cpu.append(_cpu_seconds() - c0)
        if len(runs) >= 3 and time.perf_counter() - started > budget:
            break
    return Timing(phase, runs, cpu)


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _dumps_phase(root: Path, repeat: int, budget: float) -> Timing:
    """What the CLI adds after check_json: ``json.dumps(..., indent=2)`` (the document is freed after)."""
    document = check_json(run_check(root))
    return measure(
        "  json.dumps(indent=2) of it, as the CLI", lambda: json.dumps(document, indent=2), repeat, budget
    )


def _cli_command(cli: str | None) -> list[str]:
    if cli:
        return [cli]
    venv = ROOT / ".venv" / "bin" / "frontdoor"
    if venv.exists():
        return [str(venv)]
    found = shutil.which("frontdoor")
    return [found] if found else [sys.executable, "-m", "frontdoor"]


def _run_cli(command: list[str]) -> None:
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")


def _profile(root: Path, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    check_json(run_check(root))
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(top)
        print(f"\n--- cProfile of one run_check + check_json, by {order} ---")
        print(out.getvalue().split("\n\n", 1)[-1].rstrip())


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--routes-per-service", type=int, default=10)
    parser.add_argument(
        "--teams", type=int, default=25, help="app teams (plus a platform and a delivery team)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per phase (min and median)")
    parser.add_argument(
        "--budget", type=float, default=90.0, help="seconds for all phases; stop repeating (at 3) beyond it"
    )
    parser.add_argument("--out", type=Path, help="write the contract here and keep it (default: a temp dir)")
    parser.add_argument("--cli", help="the frontdoor executable (default: .venv/bin/frontdoor)")
    parser.add_argument("--profile", type=int, metavar="N", default=0, help="print the top N of a cProfile")
    args = parser.parse_args(argv)
    if args.services < 1 or args.routes_per_service < 1 or args.teams < 1 or args.repeat < 1:
        parser.error("--services, --routes-per-service, --teams and --repeat must be at least 1")

    with tempfile.TemporaryDirectory(prefix="frontdoor-bench-") as scratch:
        root = args.out or Path(scratch) / "contract"
        if root.exists() and any(root.iterdir()):
            parser.error(f"{root} is not empty")
        t0 = time.perf_counter()
        made = generate(root, args.services, args.routes_per_service, args.teams)
        generated_in = time.perf_counter() - t0
        print(
            f"contract: {made.services} services ({made.public_services} public) and {made.routes} routes "
            f"of {made.teams} teams, {made.documents} documents in {made.files} files "
            f"({made.bytes / 1024:.0f} KiB) at {root}, generated in {_seconds(generated_in)}"
        )

        print(f"verified: {assert_ready(root)}")

        command = [*_cli_command(args.cli), "check", str(root), "--format", "json"]
        budget = args.budget / 4
        timings = [
            measure("1 load_contract", lambda: load_contract(root), args.repeat, budget),
            measure(
                "2 run_check (all envs) + check_json",
                lambda: check_json(run_check(root)),
                args.repeat,
                budget,
            ),
            _dumps_phase(root, args.repeat, budget),
            measure("3 CLI check --format json (subprocess)", lambda: _run_cli(command), args.repeat, budget),
            measure(
                "  CLI startup only (frontdoor --version)",
                lambda: _run_cli([*_cli_command(args.cli), "--version"]),
                args.repeat,
                budget / 4,
            ),
        ]

        print()
        print(f"{'phase':42} {'runs':>4} {'min':>9} {'median':>9} {'cpu median':>11}")
        for timing in timings:
            best, median, cpu = _seconds(timing.best), _seconds(timing.median), _seconds(timing.cpu_median)
            print(f"{timing.phase:42} {len(timing.runs):4} {best:>9} {median:>9} {cpu:>11}")
        print(f"\ncommand: {' '.join(command)} > /dev/null   (wall time, includes interpreter start)")
        load, cpus = os.getloadavg()[0], os.cpu_count() or 1
        if load > 0.75 * cpus:  # the benchmark itself keeps one CPU busy
            print(f"note: load average {load:.1f} on {cpus} CPUs: other work competes, wall times are noisy")

        check = timings[1]
        if made.services < 500 or made.routes < 5000:
            verdict = "not measured by this smaller run"
        else:
            verdict = "MET" if check.median < GOAL_SECONDS else "MISSED"
        print(
            f"goal: load + check of 500 services / 5,000 routes under {GOAL_SECONDS:.0f} s: {verdict} "
            f"(run_check + check_json median {_seconds(check.median)}, min {_seconds(check.best)}; "
            f"this run: {made.services} services / {made.routes} routes)"
        )
        if args.profile:
            _profile(root, args.profile)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
