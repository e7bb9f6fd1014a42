"""The production verdict: the four questions of production, answered per environment from the Plan,
and the production checks whose failures are gaps (in a production environment) or warnings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from frontdoor.contract.loaded import Contract
from frontdoor.contract.models import AccessLog
from frontdoor.contract.values import format_duration
from frontdoor.errors import Finding, Location, Severity
from frontdoor.plan import Plan, PlannedEntrypoint, PlannedRoute, compile_plan
from frontdoor.verdict.ratelimits import rate_limit_checks
from frontdoor.verdict.waivers import WaivedGap


@dataclass(frozen=True, slots=True)
class TeamOnCall:
    name: str
    role: str | None
    primary: str | None
    escalation: str | None
    hours: str | None

    def describe(self) -> str:
        if not self.primary:
            return f"{self.name} (no on-call)"
        return f"{self.name} ({self.primary}, {self.hours})"


@dataclass(frozen=True, slots=True)
class EntrypointView:
    name: str
    listen: str
    hosts: tuple[str, ...]
    tls: str
    beyond_loopback: bool
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteView:
    entrypoint: str
    hosts: tuple[str, ...]
    path: str
    methods: str
    service: str
    access: str
    public: bool
    providers: tuple[str, ...]
    clients: tuple[str, ...]
    rate_limit: str | None
    upstreams: tuple[str, ...]
    stop: TeamOnCall  # stopping and securing: the platform team of the Edge
    explain: TeamOnCall  # the app team of the Service
    rollback: TeamOnCall  # the delivery team of the Environment
    where: Location | None


@dataclass
class EnvironmentVerdict:
    name: str
    production: bool
    edge: str
    entrypoints: list[EntrypointView]
    routes: list[RouteView]
    providers: list[str]
    api_clients: list[str]
    public_routes: list[str]
    visibility: dict[str, str]
    operators: list[TeamOnCall]
    teams: list[TeamOnCall]
    findings: list[Finding] = field(default_factory=list)
    #: gaps accepted by an active waiver of the team that owns their fix (waivers.py)
    waived: list[WaivedGap] = field(default_factory=list)

    def failing(self, strict: bool) -> list[Finding]:
        return [f for f in self.findings if f.severity == "gap" or (strict and f.severity == "warning")]


def team_oncall(contract: Contract, name: str) -> TeamOnCall:
    team = contract.teams.get(name)
    if team is None:
        return TeamOnCall(name, None, None, None, None)
    oncall = team.spec.oncall
    if oncall is None:
        return TeamOnCall(name, team.spec.role, None, None, None)
    return TeamOnCall(name, team.spec.role, oncall.primary, oncall.escalation, oncall.hours)


def _tls_text(entrypoint: PlannedEntrypoint) -> str:
    if entrypoint.tls is None:
        return "none"
    tls = entrypoint.tls
    text = f"TLS {tls.min_version}+" + (", HSTS" if tls.hsts else "")
    if tls.certificates:
        text += f", {len(tls.certificates) + 1} certificates by SNI"
    if tls.client_auth is not None:
        text += f", client certificates {tls.client_auth.mode}"
    return text


class RouteViews:
    """Builds the RouteViews of one plan; what depends only on a team or a service is made once."""

    def __init__(self, contract: Contract, plan: Plan) -> None:
        self.contract = contract
        self.plan = plan
        self.providers = tuple(p.name for p in plan.edge.spec.identity.providers)
        self._teams: dict[str, TeamOnCall] = {}
        self._services: dict[str, tuple[str | None, tuple[str, ...]]] = {}

    def team(self, name: str) -> TeamOnCall:
        team = self._teams.get(name)
        if team is None:
            team = self._teams[name] = team_oncall(self.contract, name)
        return team

    def _service(self, service: str) -> tuple[str | None, tuple[str, ...]]:
        texts = self._services.get(service)
        if texts is None:
            limit = self.plan.rate_limit_for(service)
            limit_text = (
                f"{limit.requests}/{format_duration(limit.per)} burst {limit.capacity} by {limit.key}"
                if limit
                else None
            )
            upstreams = tuple(f"{u.url} ({u.weight})" for u in self.plan.upstreams.get(service, ()))
            texts = self._services[service] = (limit_text, upstreams)
        return texts

    def view(self, entrypoint: PlannedEntrypoint, route: PlannedRoute) -> RouteView:
        limit_text, upstreams = self._service(route.service)
        return RouteView(
            entrypoint=entrypoint.name,
            hosts=entrypoint.hosts,
            path=str(route.path),
            methods=route.method_text,
            service=route.service,
            access=route.access.describe(),
            public=route.access.is_public,
            providers=self.providers if route.access.requires_user else (),
            clients=route.access.clients,
            rate_limit=limit_text,
            upstreams=upstreams,
            stop=self.team(self.plan.platform_team),
            explain=self.team(route.owner),
            rollback=self.team(self.plan.delivery_team),
            where=self.contract.locate("Service", route.service, "spec", "routes", route.index),
        )


def route_view(
    contract: Contract, plan: Plan, entrypoint: PlannedEntrypoint, route: PlannedRoute
) -> RouteView:
    return RouteViews(contract, plan).view(entrypoint, route)


def _access_log(access_log: AccessLog) -> str:
    logged = f", logging headers {', '.join(access_log.headers)}" if access_log.headers else ""
    return f"{access_log.format}{logged}, redacting " + ", ".join(access_log.redact_headers)


def environment_verdict(contract: Contract, environment: str) -> EnvironmentVerdict:
    """The verdict of one environment of a valid contract."""
    plan = compile_plan(contract, environment)
    edge = plan.edge.spec
    views = RouteViews(contract, plan)
    routes = [views.view(e, r) for e, r in plan.routes()]
    observability = edge.observability
    visibility = {
        "metrics": observability.metrics.path if observability and observability.metrics else "off",
        "access_log": _access_log(observability.access_log)
        if observability and observability.access_log
        else "off",
        "tracing": observability.tracing.propagate if observability and observability.tracing else "off",
        "admin": str(edge.admin.listen) if edge.admin else "off",
    }
    operators = [team_oncall(contract, t) for t in (edge.admin.operators if edge.admin else ())]
    involved = teams_involved(contract, plan)
    verdict = EnvironmentVerdict(
        name=environment,
        production=plan.production,
        edge=plan.edge.name,
        entrypoints=[
            EntrypointView(e.name, str(e.listen), e.hosts, _tls_text(e), not e.listen.is_loopback, e.services)
            for e in plan.entrypoints
        ],
        routes=routes,
        providers=[f"{p.name} ({p.issuer})" for p in edge.identity.providers],
        api_clients=[c.name for c in edge.identity.api_clients],
        public_routes=[f"{r.path} {r.methods} ({r.service})" for r in routes if r.public],
        visibility=visibility,
        operators=operators,
        teams=[team_oncall(contract, t) for t in dict.fromkeys(involved)],
    )
    severity: Severity = "gap" if plan.production else "warning"
    verdict.findings = sorted(
        (
            # a note informs and a warning never fails a production check; the rest are gaps there
            f if f.severity in ("note", "warning") else f.with_severity(severity)
            for f in _production_checks(contract, plan)
        ),
        key=Finding.sort_key,
    )
    return verdict


# --- production checks ------------------------------------------------------------------------------


def _production_checks(contract: Contract, plan: Plan) -> Iterator[Finding]:
    env, edge = plan.environment, plan.edge
    spec = edge.spec

    def at_edge(*path: str | int) -> Location | None:
        return contract.locate("Edge", edge.name, *path)

    def gap(rule: str, message: str, where: Location | None, fix: str, target: str) -> Finding:
        return Finding(rule, message, where, fix, "gap", env, target=target)

    for i, entrypoint in enumerate(plan.entrypoints):
        if entrypoint.tls is None and not entrypoint.listen.is_loopback:
            yield gap(
                "tls-required",
                f"entrypoint {entrypoint.name} listens on {entrypoint.listen} beyond loopback without TLS",
                at_edge("spec", "entrypoints", i),
                edge.owner,
                entrypoint.name,
            )
    by_certificate = {c.name for c in spec.identity.api_clients if c.certificate is not None}
    for i, entrypoint in enumerate(plan.entrypoints):
        if entrypoint.tls is not None and entrypoint.tls.client_auth is not None:
            continue
        # a certificate client can only prove itself where TLS asks for client certificates
        unreachable = sorted(
            {f"{r.service} {r.path}" for r in entrypoint.routes if by_certificate & set(r.access.clients)}
        )
        if unreachable:
            yield gap(
                "client-auth-missing",
                f"entrypoint {entrypoint.name} has no tls.client_auth, but routes on it allow only "
                f"certificate clients or some: {', '.join(unreachable)}; those clients cannot prove "
                "who they are there",
                at_edge("spec", "entrypoints", i),
                edge.owner,
                entrypoint.name,
            )
    needs_user = sorted({r.service for _, r in plan.routes() if r.access.requires_user})
    if needs_user and not spec.identity.providers:
        yield gap(
            "identity-missing",
            f"routes of {', '.join(needs_user)} need an authenticated user, but Edge "
            f"{edge.name} declares no identity provider: every such request would be refused",
            at_edge("spec", "identity"),
            edge.owner,
            edge.name,
        )
    for provider in spec.identity.providers:
        for url in (provider.issuer, provider.jwks_uri):
            if url is not None and url.scheme != "https" and not url.is_loopback:
                yield gap(
                    "identity-insecure",
                    f"identity provider {provider.name} is reached over plain http "
                    f"({url}): keys and tokens could be forged in transit",
                    at_edge("spec", "identity"),
                    edge.owner,
                    provider.name,
                )
    observability = spec.observability
    if observability is None or observability.access_log is None or observability.metrics is None:
        missing = [
            n for n in ("access_log", "metrics") if observability is None or getattr(observability, n) is None
        ]
        yield gap(
            "observability-off",
            f"no {' and no '.join(missing)}: nobody can see the traffic",
            at_edge("spec", "observability"),
            edge.owner,
            edge.name,
        )
    if spec.admin is None or not spec.admin.operators:
        yield gap(
            "admin-operators",
            "no admin operators named: nobody is allowed to manage traffic",
            at_edge("spec", "admin"),
            edge.owner,
            edge.name,
        )
    elif spec.admin.token is None:
        yield gap(
            "admin-token",
            "the admin API has no token: anyone who reaches it can manage traffic",
            at_edge("spec", "admin"),
            edge.owner,
            edge.name,
        )

    exposed = sorted(
        {r.service for e in plan.entrypoints for r in e.routes}
        | {s for e in plan.entrypoints for s in e.services}
    )
    for name in exposed:
        service = contract.services[name]
        if service.spec.health is None or service.spec.health.readiness is None:
            yield gap(
                "health-missing",
                f"{name} declares no health.readiness: the edge cannot tell when it is ready",
                contract.locate("Service", name, "spec"),
                service.owner,
                name,
            )
        if plan.rate_limit_for(name) is None:
            yield gap(
                "rate-limits-missing",
                f"{name} has no rate limit (no rate_limits.default and none for the "
                "service): nothing protects it from a flood",
                at_edge("spec", "rate_limits"),
                edge.owner,
                name,
            )
    yield from _oncall_checks(contract, plan)
    yield from _exposure_checks(contract, plan)
    yield from rate_limit_checks(contract, plan, exposed)


def teams_involved(contract: Contract, plan: Plan) -> list[str]:
    """The platform team, the owners of every exposed service, the delivery team, the admin operators."""
    exposed = {s for e in plan.entrypoints for s in e.services}
    owners = sorted({contract.services[s].owner for s in exposed if s in contract.services})
    operators = plan.edge.spec.admin.operators if plan.edge.spec.admin else ()
    return list(dict.fromkeys([plan.platform_team, *owners, plan.delivery_team, *operators]))


def _oncall_checks(contract: Contract, plan: Plan) -> Iterator[Finding]:
    for name in teams_involved(contract, plan):
        team = contract.teams.get(name)
        if team is None:
            continue
        where = contract.locate("Team", name, "spec")
        if team.spec.oncall is None:
            yield Finding(
                "oncall-missing",
                f"team {name} is on the hook in {plan.environment} but has no on-call",
                where,
                name,
                "gap",
                plan.environment,
                target=name,
            )
        elif team.spec.oncall.hours == "business-hours" and plan.production:
            yield Finding(
                "oncall-hours",
                f"team {name} answers in business hours only: at 2am nobody does",
                contract.locate("Team", name, "spec", "oncall", "hours"),
                name,
                "note",
                plan.environment,
                target=name,
            )


def _exposure_checks(contract: Contract, plan: Plan) -> Iterator[Finding]:
    """Rule 7: an internal service on an entrypoint, or a public one that no entrypoint exposes."""
    edge = plan.edge
    exposed: set[str] = set()
    for i, entrypoint in enumerate(plan.entrypoints):
        exposed.update(entrypoint.services)
        for j, name in enumerate(edge.spec.entrypoints[i].services):
            service = contract.services.get(name)
            if service is not None and service.spec.exposure == "internal":
                yield Finding(
                    "exposure-internal",
                    f"{name} is internal but entrypoint {entrypoint.name} exposes it",
                    contract.locate("Edge", edge.name, "spec", "entrypoints", i, "services", j),
                    f"{edge.owner}, {service.owner}",
                    "gap",
                    plan.environment,
                    target=name,
                )
    for name, service in sorted(contract.services.items()):
        if service.spec.exposure == "public" and name not in exposed:
            yield Finding(
                "exposure-unexposed",
                f"{name} is public but no entrypoint of Edge {edge.name} exposes it in {plan.environment}",
                contract.locate("Service", name, "spec", "exposure"),
                f"{edge.owner}, {service.owner}",
                "gap",
                plan.environment,
                target=name,
            )


def event_gaps(contract: Contract) -> list[Finding]:
    """Every consumed topic has a producer, and every topic exactly one producing owner."""
    producers: dict[str, list[str]] = {}
    for name, service in sorted(contract.services.items()):
        for topic in service.spec.events.produces if service.spec.events else ():
            producers.setdefault(topic, []).append(name)
    findings = []
    for topic, names in sorted(producers.items()):
        owners = sorted({contract.services[n].owner for n in names})
        if len(owners) > 1:
            findings.append(
                Finding(
                    "event-producers",
                    f"topic {topic} is produced by {', '.join(names)} (owners {', '.join(owners)}): "
                    "a topic has exactly one producing owner",
                    contract.locate("Service", names[-1], "spec", "events", "produces"),
                    ", ".join(owners),
                    "gap",
                    target=topic,
                )
            )
    for name, service in sorted(contract.services.items()):
        consumes = service.spec.events.consumes if service.spec.events else ()
        for index, topic in enumerate(consumes):
            if topic not in producers:
                findings.append(
                    Finding(
                        "event-unproduced",
                        f"{name} consumes {topic}, which no declared service produces",
                        contract.locate("Service", name, "spec", "events", "consumes", index),
                        service.owner,
                        "gap",
                        target=topic,
                    )
                )
    return findings
