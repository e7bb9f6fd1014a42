"""One verify run: plan the probes of one entrypoint, send them through the paced client, judge the
answers, then the TLS probes; the report says what was sent, what was skipped and every drift."""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from frontdoor.contract.load import load_valid_contract
from frontdoor.contract.loaded import Contract
from frontdoor.errors import Finding, FrontdoorError, Location
from frontdoor.http.messages import HSTS
from frontdoor.plan import Plan, PlannedEntrypoint, compile_plan
from frontdoor.verify import tlsprobes
from frontdoor.verify.client import BudgetSpent, Pacer, ProbeClient
from frontdoor.verify.credentials import api_keys, read_token, user_token
from frontdoor.verify.forge import forge
from frontdoor.verify.judge import edge_finding, judge, unanswered
from frontdoor.verify.probes import Credentials, Planner, Probe, entrypoint_for
from frontdoor.verify.stops import read_admin_token, stopped_routes

EXIT_HONOURED, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


class EdgeUnreachable(FrontdoorError):
    pass


@dataclass(frozen=True)
class VerifyOptions:
    directory: Path
    environment: str
    base_url: str
    host: str | None = None
    entrypoint: str | None = None
    token_command: str | None = None
    token_file: str | None = None
    api_keys: Sequence[str] = ()
    rate: float = 5.0
    budget: int = 500
    allow_writes: bool = False
    cacert: str | None = None
    timeout: float = 10.0
    admin_token_file: str | None = None
    admin_url: str | None = None


@dataclass
class VerifyReport:
    root: str
    environment: str
    production: bool
    base_url: str
    entrypoint: str
    probes: int = 0
    requests: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)  # probes answered, by kind

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.findings else EXIT_HONOURED

    def verdict(self) -> str:
        sent = f"{self.probes} probe(s), {self.requests} request(s) in {self.seconds:.1f}s"
        where = f"{self.base_url} ({self.environment}, entrypoint {self.entrypoint})"
        if self.findings:
            return f"drift: {len(self.findings)} finding(s) on {where}; {sent}"
        return f"honoured: {where} does what the contract says; {sent}"


def _entrypoint_where(
    contract: Contract, plan: Plan, entrypoint: PlannedEntrypoint, *path: str
) -> Location | None:
    index = next(i for i, e in enumerate(plan.edge.spec.entrypoints) if e.name == entrypoint.name)
    return contract.locate("Edge", plan.edge.name, "spec", "entrypoints", index, *path)


def _host(entrypoint: PlannedEntrypoint, given: str | None, url_host: str) -> str:
    """The Host the probes route by: the one given, else the URL's when the entrypoint serves it, else
    the entrypoint's first named host (an IP address in the URL, a host name in the contract)."""
    if given:
        return given
    named = [h for h in entrypoint.hosts if h != "*" and not h.startswith("*.")]
    serves = (
        "*" in entrypoint.hosts
        or url_host in entrypoint.hosts
        or any(h.startswith("*.") and url_host.endswith(h[1:]) for h in entrypoint.hosts)
    )
    return url_host if serves or not named else named[0]


def _admin_url(plan: Plan, url_host: str) -> str:
    """The Edge's admin listener, as ``admin.listen`` says (a wildcard address: the edge's host)."""
    admin = plan.edge.spec.admin
    if admin is None:
        raise FrontdoorError("--admin-token-file: the Edge declares no admin API")
    listen = admin.listen
    host = url_host if listen.is_wildcard else listen.host
    return f"http://{host}:{listen.port}" if ":" not in host else f"http://[{host}]:{listen.port}"


def _tls_context(cacert: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cacert)


def verify(options: VerifyOptions) -> VerifyReport:
    started = time.monotonic()
    url = urlsplit(options.base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise FrontdoorError(f"--base-url {options.base_url}: expected http(s)://HOST[:PORT]")
    port = url.port or (443 if url.scheme == "https" else 80)
    contract = load_valid_contract(options.directory)
    plan = compile_plan(contract, options.environment)
    try:
        entrypoint = entrypoint_for(plan, options.entrypoint, port, options.host)
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    tls = entrypoint.tls
    if tls is not None and url.scheme != "https":
        raise FrontdoorError(
            f"entrypoint {entrypoint.name} declares TLS: give its https:// URL as --base-url"
        )
    host = _host(entrypoint, options.host, url.hostname)
    edge = plan.edge
    user = None
    token = read_token(options.token_command, options.token_file)
    if token is not None:
        user = user_token(edge, token)
    keys = api_keys(list(options.api_keys), edge)
    credentials = Credentials((), user, keys)
    providers = edge.spec.identity.providers if edge.spec.identity is not None else ()
    if providers:
        scopes = sorted({s for r in entrypoint.routes for s in r.access.scopes})
        claims: dict[str, object] = {}
        for route in entrypoint.routes:
            claims.update(route.access.claims)
        credentials = Credentials(forge(providers[0], scopes, claims), user, keys)
    pacer = Pacer(options.rate, options.budget)
    stopped: frozenset[str] = frozenset()
    if options.admin_token_file is not None:
        token = read_admin_token(options.admin_token_file)
        admin_url = options.admin_url or _admin_url(plan, url.hostname)
        stopped = stopped_routes(admin_url, token, pacer, _tls_context(options.cacert), options.timeout)
    probes = Planner(contract, entrypoint, host, stopped).plan(credentials, options.allow_writes)
    tls_probes = 0 if tls is None else 2
    if len(probes) + tls_probes + pacer.spent > options.budget:
        raise FrontdoorError(
            f"{len(probes) + tls_probes} probes planned, over the budget of {options.budget} requests: "
            "raise --budget"
        )
    report = VerifyReport(
        str(options.directory), plan.environment, plan.production, options.base_url, entrypoint.name
    )
    sent_host = host if host != url.hostname else None
    client = ProbeClient(
        f"{url.scheme}://{url.netloc}",
        pacer,
        _tls_context(options.cacert),
        sent_host,
        options.allow_writes,
        options.timeout,
    )
    platform, env = plan.platform_team, plan.environment
    hsts_missing: list[str] = []
    limited_seen: dict[str, list[str]] = {}  # service -> admitted answers without RateLimit fields
    limited_ok: set[str] = set()
    answered = 0
    try:
        for probe in probes:
            try:
                answer = client.send(probe.method, probe.target, probe.headers)
            except httpx.TransportError as exc:
                if answered == 0:
                    raise EdgeUnreachable(f"{options.base_url}: the edge cannot be reached ({exc})") from None
                report.findings.append(unanswered(probe, str(exc) or type(exc).__name__, env, platform))
                continue
            answered += 1
            report.kinds[probe.kind] = report.kinds.get(probe.kind, 0) + 1
            finding = judge(probe, answer, env, platform)
            if finding is not None:
                report.findings.append(finding)
            if tls is not None and tls.hsts and "strict-transport-security" not in answer.headers:
                hsts_missing.append(f"{probe.label} ({answer.status})")
            _rate_limit_fields(plan, probe, answer.status, answer.headers, limited_seen, limited_ok)
    except BudgetSpent as exc:
        report.skipped.append(str(exc))
    finally:
        client.close()
        report.probes = len(probes)
    if hsts_missing and tls is not None:
        where = _entrypoint_where(contract, plan, entrypoint, "tls", "hsts")
        report.findings.append(
            edge_finding(
                "verify-hsts",
                f"entrypoint {entrypoint.name} declares hsts but {len(hsts_missing)} of {answered} answers "
                f"carry no Strict-Transport-Security (expected {HSTS!r}), e.g. {hsts_missing[0]}",
                where,
                env,
                platform,
                entrypoint.name,
            )
        )
    for service, missing in sorted(limited_seen.items()):
        where = _limit_where(contract, plan, service)
        report.findings.append(
            edge_finding(
                "verify-ratelimit-headers",
                f"service {service} has a rate limit but {len(missing)} admitted answer(s) carry no "
                f"RateLimit / RateLimit-Policy fields, e.g. {missing[0]}",
                where,
                env,
                platform,
                service,
            )
        )
    unobserved = sorted(s for s in entrypoint.services if plan.rate_limit_for(s) is not None)
    unobserved = [s for s in unobserved if s not in limited_ok and s not in limited_seen]
    if unobserved:
        report.skipped.append(
            "rate-limit fields not observed (no probe was admitted) for: " + ", ".join(unobserved)
        )
    if tls is not None:
        _tls_probes(report, contract, plan, entrypoint, (url.hostname, port), host, pacer, options.timeout)
    report.requests = pacer.spent
    report.seconds = time.monotonic() - started
    return report


def _rate_limit_fields(
    plan: Plan,
    probe: Probe,
    status: int,
    headers: httpx.Headers,
    missing: dict[str, list[str]],
    present: set[str],
) -> None:
    route = probe.route
    if route is None or not 200 <= status < 300 or plan.rate_limit_for(route.service) is None:
        return
    if "ratelimit" in headers and "ratelimit-policy" in headers:
        present.add(route.service)
    else:
        missing.setdefault(route.service, []).append(f"{probe.label} ({status})")


def _limit_where(contract: Contract, plan: Plan, service: str) -> Location | None:
    limits = plan.edge.spec.rate_limits
    if limits is not None and service in limits.services:
        return contract.locate("Edge", plan.edge.name, "spec", "rate_limits", "services", service)
    return contract.locate("Edge", plan.edge.name, "spec", "rate_limits", "default")


def _tls_probes(
    report: VerifyReport,
    contract: Contract,
    plan: Plan,
    entrypoint: PlannedEntrypoint,
    address: tuple[str, int],
    host: str,
    pacer: Pacer,
    timeout: float,
) -> None:
    tls = entrypoint.tls
    assert tls is not None
    env, platform = plan.environment, plan.platform_team
    try:
        pacer.take()
        below = tlsprobes.below_minimum(address, host, tls.min_version, timeout)
        if below.result != "skipped":
            report.kinds["tls-version"] = 1
        if below.result == "skipped":
            report.skipped.append(below.detail)
        elif below.result == "accepted":
            report.findings.append(
                edge_finding(
                    "verify-tls-version",
                    f"entrypoint {entrypoint.name} declares min_version {tls.min_version} but {below.detail}",
                    _entrypoint_where(contract, plan, entrypoint, "tls", "min_version"),
                    env,
                    platform,
                    entrypoint.name,
                )
            )
        pacer.take()
        plain = tlsprobes.plain_http(address, host, timeout)
        report.kinds["plain-http"] = 1
        if plain.result == "accepted":
            report.findings.append(
                edge_finding(
                    "verify-plain-http",
                    f"entrypoint {entrypoint.name} declares TLS but its port answers plain HTTP: "
                    f"{plain.detail} (expected a refusal or a redirect to https)",
                    _entrypoint_where(contract, plan, entrypoint, "tls"),
                    env,
                    platform,
                    entrypoint.name,
                )
            )
    except BudgetSpent as exc:
        report.skipped.append(str(exc))
