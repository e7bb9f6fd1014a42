"""The four kinds of contract document, as frozen pydantic models (format v1, see docs/contract.md).

Each model refuses unknown fields; the loader turns a refused field that belongs to another kind into
a "wrong kind" error naming the team that owns it (rule 2).

The specs of the larger kinds are in models_service.py and models_edge.py, what all kinds share in
models_common.py; every model is imported from here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from frontdoor.contract.models_common import (
    API_VERSION,
    OWNER_ROLE,
    WAIVABLE_RULES,
    Name,
    Role,
    Strict,
    WaivableRule,
    Waiver,
    Waivers,
    unique,
)
from frontdoor.contract.models_edge import (
    AccessLog,
    Admin,
    ApiClient,
    CertificateMatch,
    CircuitBreaker,
    ClientAuth,
    EdgeSpec,
    Entrypoint,
    HeaderName,
    HostCertificate,
    Identity,
    JwtAlgorithm,
    Metrics,
    Observability,
    Protection,
    Provider,
    RateLimit,
    RateLimits,
    Retries,
    Timeouts,
    Tls,
    Tracing,
)
from frontdoor.contract.models_service import (
    Access,
    AccessRule,
    Api,
    Events,
    Health,
    HealthPath,
    Load,
    Route,
    ServiceSpec,
    Slo,
    Topic,
)
from frontdoor.contract.values import (
    Host,
    HttpUrl,
    Secret,
    SecretRef,
)

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


# --- Environment -----------------------------------------------------------------------------------


def _upstream(value: object) -> object:
    return {"url": value} if isinstance(value, str) else value


class UpstreamTls(Strict):
    """How an https:// upstream is verified, and how the gateway proves itself to it (mutual TLS)."""

    ca: Secret | None = None  # PEM CAs the upstream's certificate must chain to; none: the system's store
    server_name: Host | None = None  # SNI and the name checked in its certificate; none: the URL's host
    cert: Secret | None = None  # the gateway's client certificate for this upstream
    key: Secret | None = None

    @field_validator("server_name")
    @classmethod
    def _one_name(cls, name: str | None) -> str | None:
        if name is not None and "*" in name:
            raise ValueError("server_name is one name: the one the upstream's certificate must carry")
        return name

    @model_validator(mode="after")
    def _pair(self) -> UpstreamTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs both cert and key")
        return self


class Upstream(Strict):
    url: HttpUrl
    weight: Annotated[int, Field(ge=0, le=10000)] = 1
    tls: UpstreamTls | None = None

    @model_validator(mode="after")
    def _tls_for_https(self) -> Upstream:
        if self.tls is not None and self.url.scheme != "https":
            raise ValueError(f"{self.url}: tls is for https:// upstreams (write https://, or drop tls)")
        return self

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
            unique(tuple(str(u.url) for u in pool), "upstream")
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

__all__ = [
    "API_VERSION",
    "MODEL_BY_KIND",
    "OWNER_ROLE",
    "WAIVABLE_RULES",
    "Access",
    "AccessLog",
    "AccessRule",
    "Admin",
    "Api",
    "ApiClient",
    "CertificateMatch",
    "CircuitBreaker",
    "ClientAuth",
    "Contact",
    "Document",
    "Edge",
    "EdgeSpec",
    "Entrypoint",
    "Environment",
    "EnvironmentSpec",
    "Events",
    "HeaderName",
    "Health",
    "HealthPath",
    "HostCertificate",
    "Identity",
    "JwtAlgorithm",
    "Load",
    "Metadata",
    "Metrics",
    "Name",
    "Observability",
    "OnCall",
    "Protection",
    "Provider",
    "RateLimit",
    "RateLimits",
    "Retries",
    "Role",
    "Route",
    "Service",
    "ServiceSpec",
    "Slo",
    "Strict",
    "Team",
    "TeamSpec",
    "Timeouts",
    "Tls",
    "Topic",
    "Tracing",
    "Upstream",
    "UpstreamTls",
    "WaivableRule",
    "Waiver",
    "Waivers",
]
