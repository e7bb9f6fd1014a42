"""The four kinds of contract document, as frozen pydantic models (format v1, see docs/contract.md).

Each model refuses unknown fields; the loader turns a refused field that belongs to another kind into
a "wrong kind" error naming the team that owns it (rule 2).
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from frontdoor.contract.values import (
    NAME_PATTERN,
    ClaimValue,
    Duration,
    Host,
    HttpUrl,
    Listen,
    Method,
    Network,
    PathPattern,
    Scope,
    Secret,
    SecretRef,
    Size,
)

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lowercase letters, digits and '-'")]
Role = Literal["app", "platform", "delivery"]
Kind = Literal["Team", "Service", "Edge", "Environment"]
API_VERSION = "frontdoor/v1"

#: which team role may own each kind of document (rule 1)
OWNER_ROLE: dict[str, Role | None] = {
    "Team": None,
    "Service": "app",
    "Edge": "platform",
    "Environment": "delivery",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(values: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value)
    return values


def _names_unique(items: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    _unique(tuple(item.name for item in items), what)
    return items


# --- waivers (a gap accepted by the team that owns its fix, for a while) ------------------------------

#: the production checks a waiver may accept: gaps (and warnings, which fail with --strict); never an
#: error, which makes the contract invalid
WaivableRule = Literal[
    "tls-required",
    "identity-missing",
    "identity-insecure",
    "observability-off",
    "admin-operators",
    "admin-token",
    "health-missing",
    "rate-limits-missing",
    "rate-limit-below-peak",
    "rate-limit-loose",
    "oncall-missing",
    "exposure-internal",
    "exposure-unexposed",
    "event-producers",
    "event-unproduced",
]
WAIVABLE_RULES: tuple[str, ...] = get_args(WaivableRule)


def _reason(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("a waiver says why the gap is accepted: write the reason, not an empty string")
    return value


class Waiver(Strict):
    """A gap accepted by the team that owns its fix, with a reason, until a date (docs/contract.md)."""

    rule: WaivableRule
    target: Annotated[
        str,
        Field(min_length=1, description="what the gap names: an entrypoint, a service, a provider..."),
    ]
    reason: Annotated[str, BeforeValidator(_reason), Field(min_length=1, description="why it is accepted")]
    expires: Annotated[datetime.date, Field(description="the last day it holds, such as 2027-01-31")]
    environments: tuple[Name, ...] | None = Field(
        default=None, description="only in these environments (omitted: every environment)"
    )


Waivers = Annotated[tuple[Waiver, ...], Field(description="gaps this document's owner accepts, for a while")]


# --- Team ------------------------------------------------------------------------------------------


class OnCall(Strict):
    primary: Annotated[str, Field(min_length=1, description="how to page the team: any actionable string")]
    escalation: str | None = None
    hours: Literal["24x7", "business-hours"] = "24x7"


class Contact(Strict):
    chat: str | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None


class TeamSpec(Strict):
    role: Role
    oncall: OnCall | None = None
    contact: Contact | None = None
    runbooks: HttpUrl | None = None


# --- Service ---------------------------------------------------------------------------------------


class AccessRule(Strict):
    """What a route requires. ``mode`` comes from the short forms ``public`` and ``authenticated``."""

    mode: Literal["public", "authenticated", "rule"] = "rule"
    scopes: tuple[Scope, ...] = ()
    claims: dict[Annotated[str, Field(min_length=1)], ClaimValue] = {}
    clients: tuple[Name, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> AccessRule:
        if self.mode == "rule" and not (self.scopes or self.claims or self.clients):
            raise ValueError("an access mapping needs at least one of scopes, claims or clients")
        _unique(self.scopes, "scope")
        _unique(self.clients, "client")
        return self

    @property
    def is_public(self) -> bool:
        return self.mode == "public"

    @property
    def requires_user(self) -> bool:
        """An end-user token is needed: ``authenticated``, or any scope or claim."""
        return self.mode == "authenticated" or bool(self.scopes or self.claims)

    def describe(self) -> str:
        if self.mode != "rule":
            return self.mode
        parts = []
        if self.scopes:
            parts.append("scopes " + " ".join(self.scopes))
        if self.claims:
            parts.append("claims " + ", ".join(f"{k}={_claim_text(v)}" for k, v in self.claims.items()))
        if self.clients:
            parts.append("clients " + ", ".join(self.clients))
        return "; ".join(parts)


def _claim_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parse_access(value: object) -> object:
    if value is None or isinstance(value, AccessRule):
        return value
    if isinstance(value, str):
        if value in ("public", "authenticated"):
            return AccessRule(mode=value)
        raise ValueError(
            f"{value!r} is not an access: write public, authenticated, "
            "or a mapping of scopes, claims, clients"
        )
    if isinstance(value, dict):
        if "mode" in value:
            raise ValueError(
                "'mode' is not an access field: write public, authenticated, or scopes/claims/clients"
            )
        return value
    raise ValueError("access is public, authenticated, or a mapping of scopes, claims and clients")


_ACCESS_SCHEMA = {
    "description": "public, authenticated, or {scopes, claims, clients}",
    "anyOf": [
        {"enum": ["public", "authenticated"]},
        {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "scopes": {"type": "array", "items": {"type": "string"}},
                "claims": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "integer", "boolean"]},
                },
                "clients": {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN}},
            },
        },
    ],
}
Access = Annotated[
    AccessRule,
    BeforeValidator(_parse_access),
    PlainSerializer(
        lambda a: a.mode if a.mode != "rule" else a.model_dump(exclude={"mode"}, exclude_defaults=True)
    ),
    WithJsonSchema(_ACCESS_SCHEMA),
]


class Route(Strict):
    path: PathPattern
    methods: tuple[Method, ...] | None = Field(default=None, description="omitted: every method")
    # Optional in the model so that a missing access is reported by its own rule (route-access).
    access: Access | None = None
    strip_prefix: bool = False

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if methods is not None:
            if not methods:
                raise ValueError("an empty methods list matches nothing: omit it to allow every method")
            _unique(methods, "method")
        return methods


HealthPath = Annotated[str, Field(pattern=r"^/[^\s?#]*$", description="an absolute path on the service")]


class Health(Strict):
    readiness: HealthPath | None = None
    liveness: HealthPath | None = None


class Api(Strict):
    openapi: Annotated[str, Field(min_length=1, description="path relative to the document's file")]


Topic = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$", description="a topic name")]


class Events(Strict):
    produces: tuple[Topic, ...] = ()
    consumes: tuple[Topic, ...] = ()


class Load(Strict):
    expected_rps: Annotated[float, Field(ge=0)]
    peak_rps: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _peak(self) -> Load:
        if self.peak_rps is not None and self.peak_rps < self.expected_rps:
            raise ValueError("peak_rps is lower than expected_rps")
        return self


def _percent(value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value.rstrip("%"))
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage such as 99.9") from None
    return value


class Slo(Strict):
    availability: (
        Annotated[float, BeforeValidator(_percent, json_schema_input_type=float | str), Field(gt=0, lt=100)]
        | None
    ) = None
    latency_p99_ms: Annotated[int, Field(gt=0)] | None = None


class ServiceSpec(Strict):
    description: str | None = None
    exposure: Literal["public", "internal"]
    health: Health | None = None
    api: Api | None = None
    routes: tuple[Route, ...] = ()
    events: Events | None = None
    load: Load | None = None
    slo: Slo | None = None
    waivers: Waivers = ()


# --- Edge ------------------------------------------------------------------------------------------


def _tls_version(value: object) -> object:
    # YAML reads an unquoted 1.2 as a float; both spellings mean the same version.
    return f"{value:.1f}" if isinstance(value, float) else value


class Tls(Strict):
    cert: Secret
    key: Secret
    min_version: Annotated[
        Literal["1.2", "1.3"],
        BeforeValidator(_tls_version, json_schema_input_type=Literal["1.2", "1.3", 1.2, 1.3]),
    ] = "1.2"
    hsts: bool = False


class Entrypoint(Strict):
    name: Name
    listen: Listen
    hosts: tuple[Host, ...] = ("*",)
    tls: Tls | None = None
    services: Annotated[
        tuple[Annotated[str, Field(pattern=r"^(\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?)$")], ...],
        Field(min_length=1, description='services exposed here; "*" is every public service'),
    ]
    trusted_proxies: tuple[Network, ...] = ()

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        if not hosts:
            raise ValueError('hosts is empty: list host names, or "*" for any host')
        return _unique(hosts, "host")


JwtAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]


def _algorithm(value: object) -> object:
    if isinstance(value, str) and value.lower() == "none":
        raise ValueError("'none' means an unsigned token and is never accepted")
    if isinstance(value, str) and value.upper().startswith("HS"):
        raise ValueError(
            f"{value} is a shared-secret algorithm; keys come from the provider's public JWKS: "
            "use RS256 or ES256"
        )
    return value


class Provider(Strict):
    name: Name
    issuer: HttpUrl
    audiences: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1)]
    algorithms: Annotated[
        tuple[Annotated[JwtAlgorithm, BeforeValidator(_algorithm)], ...], Field(min_length=1)
    ] = ("RS256",)
    jwks_uri: HttpUrl | None = None
    scopes_claim: Literal["scope", "scp"] = "scope"
    clock_skew_s: Annotated[int, Field(ge=0, le=600)] = 30


class ApiClient(Strict):
    name: Name
    key_sha256: Secret


class Identity(Strict):
    providers: tuple[Provider, ...] = ()
    api_clients: tuple[ApiClient, ...] = ()

    @field_validator("providers")
    @classmethod
    def _providers(cls, providers: tuple[Provider, ...]) -> tuple[Provider, ...]:
        _unique(tuple(str(p.issuer) for p in providers), "issuer")
        return _names_unique(providers, "provider")

    @field_validator("api_clients")
    @classmethod
    def _clients(cls, clients: tuple[ApiClient, ...]) -> tuple[ApiClient, ...]:
        return _names_unique(clients, "api client")


class RateLimit(Strict):
    requests: Annotated[int, Field(gt=0)]
    per: Duration
    burst: Annotated[int, Field(gt=0)] | None = None
    key: Literal["client", "subject", "api_client", "route"] = "client"

    @field_validator("per")
    @classmethod
    def _per(cls, per: float) -> float:
        if per <= 0:
            raise ValueError("per must be a positive duration such as 1s or 1m")
        return per

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.requests


class RateLimits(Strict):
    store: Literal["local", "redis"] = "local"
    on_store_failure: Literal["allow", "deny"] = "allow"
    default: RateLimit | None = None
    services: dict[Name, RateLimit] = {}


class Timeouts(Strict):
    connect: Duration = 5.0
    header: Duration = 10.0
    upstream: Duration = 30.0
    idle: Duration = 60.0

    @field_validator("connect", "header", "upstream", "idle")
    @classmethod
    def _positive(cls, seconds: float) -> float:
        if seconds <= 0:
            raise ValueError("a timeout must be longer than 0s")
        return seconds


class Retries(Strict):
    # Total tries including the first, as nginx's proxy_next_upstream_tries counts them: 1 never retries.
    attempts: Annotated[int, Field(ge=1, le=10)] = 1
    only_idempotent: bool = True


class CircuitBreaker(Strict):
    failure_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    min_requests: Annotated[int, Field(ge=1)] = 20
    open_for: Duration = 10.0


class Protection(Strict):
    max_request_body: Size = 1024 * 1024
    max_header_bytes: Size = 16 * 1024
    timeouts: Timeouts = Timeouts()
    max_inflight_per_service: Annotated[int, Field(gt=0)] | None = None
    retries: Retries = Retries()
    circuit_breaker: CircuitBreaker | None = None


def _lower_all(values: object) -> object:
    if isinstance(values, list | tuple):
        return tuple(v.lower() if isinstance(v, str) else v for v in values)
    return values


HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9a-z-]+$", description="a header name")]


class AccessLog(Strict):
    format: Literal["json", "text"] = "json"
    # request headers whose values each line records; one also in redact_headers shows as [redacted]
    headers: Annotated[tuple[HeaderName, ...], BeforeValidator(_lower_all)] = ()
    redact_headers: Annotated[tuple[str, ...], BeforeValidator(_lower_all)] = (
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    )


class Metrics(Strict):
    path: Annotated[str, Field(pattern=r"^/[^\s?#]*$")] = "/metrics"


class Tracing(Strict):
    propagate: Literal["w3c", "none"] = "w3c"


class Observability(Strict):
    access_log: AccessLog | None = None
    metrics: Metrics | None = None
    tracing: Tracing | None = None


class Admin(Strict):
    listen: Listen
    operators: tuple[Name, ...] = ()
    token: Secret | None = None


class EdgeSpec(Strict):
    entrypoints: Annotated[tuple[Entrypoint, ...], Field(min_length=1)]
    identity: Identity = Identity()
    rate_limits: RateLimits | None = None
    protection: Protection = Protection()
    observability: Observability | None = None
    admin: Admin | None = None
    waivers: Waivers = ()

    @field_validator("entrypoints")
    @classmethod
    def _entrypoints(cls, entrypoints: tuple[Entrypoint, ...]) -> tuple[Entrypoint, ...]:
        return _names_unique(entrypoints, "entrypoint")


# --- Environment -----------------------------------------------------------------------------------


def _upstream(value: object) -> object:
    return {"url": value} if isinstance(value, str) else value


class Upstream(Strict):
    url: HttpUrl
    weight: Annotated[int, Field(ge=0, le=10000)] = 1

    @field_validator("url")
    @classmethod
    def _origin_only(cls, url: Any) -> Any:
        if url.path not in ("", "/"):
            raise ValueError(f"{url}: an upstream is an origin (scheme, host, port) without a path")
        return url


def _env_secret(value: object) -> object:
    if isinstance(value, str) and value.startswith("secret:"):
        raise ValueError("the Environment resolves secret names: map it to env:VAR or file:/path")
    return value


class EnvironmentSpec(Strict):
    production: bool = False
    promotes_from: Name | None = None
    upstreams: dict[
        Name,
        tuple[Annotated[Upstream, BeforeValidator(_upstream, json_schema_input_type=str | Upstream)], ...],
    ] = {}
    secrets: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")],
        Annotated[Secret, BeforeValidator(_env_secret)],
    ] = {}
    waivers: Waivers = ()

    @field_validator("upstreams")
    @classmethod
    def _weights(cls, upstreams: dict[str, tuple[Upstream, ...]]) -> dict[str, tuple[Upstream, ...]]:
        for service, pool in upstreams.items():
            if not pool:
                raise ValueError(f"{service}: an upstream list needs at least one URL")
            if sum(u.weight for u in pool) == 0:
                raise ValueError(f"{service}: every weight is 0, so no request could be sent")
            _unique(tuple(str(u.url) for u in pool), "upstream")
        return upstreams

    def secret(self, name: str) -> SecretRef | None:
        return self.secrets.get(name)


# --- the envelope ----------------------------------------------------------------------------------


class Metadata(Strict):
    name: Name
    owner: Name | None = None
    environments: tuple[Name, ...] | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class Document(Strict):
    api_version: Literal["frontdoor/v1"] = Field(alias="apiVersion")
    metadata: Metadata

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def owner(self) -> str:
        """The owning team; a Team owns itself."""
        return self.metadata.owner or self.metadata.name


class Team(Document):
    kind: Literal["Team"]
    spec: TeamSpec


class Service(Document):
    kind: Literal["Service"]
    spec: ServiceSpec


class Edge(Document):
    kind: Literal["Edge"]
    spec: EdgeSpec

    def serves(self, environment: str) -> bool:
        envs = self.metadata.environments
        return envs is None or environment in envs


class Environment(Document):
    kind: Literal["Environment"]
    spec: EnvironmentSpec


MODEL_BY_KIND: dict[str, type[Document]] = {
    "Team": Team,
    "Service": Service,
    "Edge": Edge,
    "Environment": Environment,
}
SPEC_BY_KIND: dict[str, type[Strict]] = {
    "Team": TeamSpec,
    "Service": ServiceSpec,
    "Edge": EdgeSpec,
    "Environment": EnvironmentSpec,
}
