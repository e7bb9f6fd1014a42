"""One verify run: plan the probes of one entrypoint, send them through the paced client, judge each
answer and observe them all, then the TLS probes and, when asked, the bursts; the report says what was
sent, what was skipped and every drift."""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from frontdoor.contract.load import load_valid_contract
from frontdoor.errors import Finding, FrontdoorError
from frontdoor.plan import Plan, PlannedEntrypoint, compile_plan
from frontdoor.verify import tlsprobes
from frontdoor.verify.burst import burst_targets, run_burst
from frontdoor.verify.certificate import ClientCertificateFile, certificate_clients, client_certificate
from frontdoor.verify.client import BudgetSpent, Pacer, ProbeClient
from frontdoor.verify.credentials import api_keys, read_token, user_token
from frontdoor.verify.forge import forged_for
from frontdoor.verify.judge import Clauses, judge, unanswered
from frontdoor.verify.observed import Observations
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
    burst: bool = False
    cert: str | None = None  # a client certificate (PEM) and its key, for tls.client_auth
    key: str | None = None


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

    def count(self, kind: str) -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.findings else EXIT_HONOURED

    def verdict(self) -> str:
        sent = f"{self.probes} probe(s), {self.requests} request(s) in {self.seconds:.1f}s"
        where = f"{self.base_url} ({self.environment}, entrypoint {self.entrypoint})"
        if self.findings:
            return f"drift: {len(self.findings)} finding(s) on {where}; {sent}"
        return f"honoured: {where} does what the contract says; {sent}"


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


def _tls_context(cacert: str | None, certificate: ClientCertificateFile | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cacert)
    if certificate is not None:
        context.load_cert_chain(certificate.cert, certificate.key)
    return context


def _certificate(
    options: VerifyOptions, entrypoint: PlannedEntrypoint, plan: Plan
) -> ClientCertificateFile | None:
    """The --cert certificate's client, checked against the entrypoint: usage errors (exit 2) for a
    certificate without a key, one given to an entrypoint that asks for none, and an entrypoint that
    requires one when none is given (its every handshake would fail: no answer to judge)."""
    if (options.cert is None) != (options.key is None):
        raise FrontdoorError("--cert and --key go together: the client certificate and its private key")
    client_auth = entrypoint.tls.client_auth if entrypoint.tls is not None else None
    if options.cert is None or options.key is None:
        if client_auth is not None and client_auth.mode == "required":
            raise FrontdoorError(
                f"entrypoint {entrypoint.name} requires a client certificate (tls.client_auth mode "
                "required): give one of its API clients' certificates with --cert FILE --key FILE"
            )
        return None
    if client_auth is None:
        raise FrontdoorError(f"--cert: entrypoint {entrypoint.name} asks for no client certificate")
    return client_certificate(plan.edge, options.cert, options.key)


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
    token = read_token(options.token_command, options.token_file)
    user = user_token(edge, token) if token is not None else None
    certificate = _certificate(options, entrypoint, plan)
    client_auth = tls.client_auth if tls is not None else None
    required = certificate is not None and client_auth is not None and client_auth.mode == "required"
    credentials = Credentials(
        forged_for(edge, entrypoint),
        user,
        api_keys(list(options.api_keys), edge),
        certificate.client if certificate is not None else None,
    )
    pacer = Pacer(options.rate, options.budget)
    context = _tls_context(options.cacert)
    certified = _tls_context(options.cacert, certificate) if certificate is not None else None
    stopped: frozenset[str] = frozenset()
    if options.admin_token_file is not None:
        admin_token = read_admin_token(options.admin_token_file)
        admin_url = options.admin_url or _admin_url(plan, url.hostname)
        stopped = stopped_routes(admin_url, admin_token, pacer, context, options.timeout)
    # where a certificate is required, every request carries it: the planner expects accordingly
    presented = certificate.client if required and certificate is not None else None
    planner = Planner(contract, entrypoint, host, stopped, certificate_clients(edge), presented)
    probes = planner.plan(credentials, options.allow_writes)
    bursts, no_burst = burst_targets(plan, entrypoint, host) if options.burst else ([], [])
    needed = (
        len(probes) + (0 if tls is None else 2 + int(required)) + pacer.spent + sum(b.cap for b in bursts)
    )
    if needed > options.budget:
        raise FrontdoorError(
            f"{needed} requests planned, over the budget of {options.budget} requests: raise --budget"
        )
    report = VerifyReport(
        str(options.directory), plan.environment, plan.production, options.base_url, entrypoint.name
    )
    report.probes = len(probes)
    clauses = Clauses(contract, plan, entrypoint)
    client = ProbeClient(
        f"{url.scheme}://{url.netloc}",
        pacer,
        certified if required and certified is not None else context,
        host if host != url.hostname else None,
        options.allow_writes,
        options.timeout,
        certified,
    )
    try:
        _send(report, probes, client, clauses)
        if tls is not None:
            checks = tlsprobes.check_entrypoint(
                clauses, (url.hostname, port), host, pacer, options.timeout, context if required else None
            )
            report.findings += checks.findings
            report.skipped += checks.skipped
            for kind in checks.kinds:
                report.count(kind)
        report.skipped += no_burst
        for target in bursts:  # last: a limit reached stays reached for a while
            result = run_burst(client, target, clauses)
            report.count("burst")
            report.findings += [result.finding] if result.finding is not None else []
            report.skipped += [result.skipped] if result.skipped is not None else []
    finally:
        client.close()
    report.requests = pacer.spent
    report.seconds = time.monotonic() - started
    return report


def _send(report: VerifyReport, probes: list[Probe], client: ProbeClient, clauses: Clauses) -> None:
    """Every probe in turn, each answer judged alone and observed with the others."""
    env, platform = clauses.plan.environment, clauses.plan.platform_team
    observations = Observations(clauses)
    try:
        for probe in probes:
            try:
                answer = client.send(probe.method, probe.target, probe.headers, certificate=probe.certificate)
            except httpx.TransportError as exc:
                if observations.answered == 0:
                    raise EdgeUnreachable(f"{report.base_url}: the edge cannot be reached ({exc})") from None
                report.findings.append(unanswered(probe, str(exc) or type(exc).__name__, env, platform))
                continue
            report.count(probe.kind)
            observations.add(probe, answer)
            finding = judge(probe, answer, env, platform)
            if finding is not None:
                report.findings.append(finding)
    except BudgetSpent as exc:
        report.skipped.append(str(exc))
    report.findings += observations.findings()
    report.skipped += observations.unobserved()
