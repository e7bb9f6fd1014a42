"""The Edge document's spec (the platform team's): entrypoints, TLS, identity, rate limits, protection,
observability and admin."""

from __future__ import annotations

from typing import Annotated, Literal

from cryptography import x509
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from frontdoor.contract.models_common import Name, Strict, Waivers, names_unique, unique
from frontdoor.contract.values import (
    Duration,
    Host,
    HttpUrl,
    Listen,
    Network,
    Scope,
    Secret,
    Size,
)

# --- Edge ------------------------------------------------------------------------------------------


def _tls_version(value: object) -> object:
    # YAML reads an unquoted 1.2 as a float; both spellings mean the same version.
    return f"{value:.1f}" if isinstance(value, float) else value


class ClientAuth(Strict):
    """Client certificates (mutual TLS): verified against ``ca``; ``required`` refuses a handshake
    without one, ``optional`` lets it through (routes only certificate clients may call then answer 403)."""

    ca: Secret
    mode: Literal["required", "optional"] = "required"


def _sni_host(host: str) -> str:
    if host == "*":
        raise ValueError('"*" is every name: that is the default cert and key of tls')
    return host


class HostCertificate(Strict):
    """A certificate served to clients that ask (SNI) for one of ``hosts``."""

    hosts: Annotated[tuple[Annotated[Host, AfterValidator(_sni_host)], ...], Field(min_length=1)]
    cert: Secret
    key: Secret


class Tls(Strict):
    cert: Secret
    key: Secret
    certificates: tuple[HostCertificate, ...] = ()
    client_auth: ClientAuth | None = None

    @field_validator("certificates")
    @classmethod
    def _certificates(cls, certificates: tuple[HostCertificate, ...]) -> tuple[HostCertificate, ...]:
        unique(tuple(h for c in certificates for h in c.hosts), "certificate host")
        return certificates

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
        return unique(hosts, "host")


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


class Session(Strict):
    """How long a browser session lasts: ``ttl`` from sign-in at most, ``idle`` without a request."""

    ttl: Duration = 8 * 3600.0
    idle: Duration = 3600.0

    @field_validator("ttl", "idle")
    @classmethod
    def _positive(cls, seconds: float) -> float:
        if seconds <= 0:
            raise ValueError("a session duration must be longer than 0s")
        return seconds


class Login(Strict):
    """This provider signs browsers in (OIDC authorization code flow with PKCE): docs/access.md."""

    client_id: Annotated[str, Field(min_length=1, pattern=r"^[\x21-\x7e]+$")]
    client_secret: Secret
    scopes: Annotated[tuple[Scope, ...], Field(min_length=1)] = ("openid", "profile", "email")
    session: Session = Session()
    # the first key seals new sessions; every key opens them (rotation: add a new key first, drop the
    # old one once its sessions have expired)
    cookie_keys: Annotated[tuple[Secret, ...], Field(min_length=1)]

    @field_validator("scopes")
    @classmethod
    def _openid(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in scopes:
            raise ValueError("sign-in is OpenID Connect: the scopes must include openid")
        return unique(scopes, "scope")


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
    login: Login | None = None


class CertificateMatch(Strict):
    """Which verified client certificate is this client: a URI in its subjectAltName (a SPIFFE id, say),
    or its whole subject distinguished name (RFC 4514, as ``openssl x509 -subject -nameopt RFC2253``)."""

    san_uri: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")] | None = None
    subject: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9.]+=")] | None = None

    @field_validator("subject")
    @classmethod
    def _subject(cls, subject: str | None) -> str | None:
        if subject is not None:
            try:
                x509.Name.from_rfc4514_string(subject)
            except ValueError:
                raise ValueError(
                    f"{subject!r} is not a distinguished name such as CN=billing,O=Example"
                ) from None
        return subject

    @model_validator(mode="after")
    def _one(self) -> CertificateMatch:
        if (self.san_uri is None) == (self.subject is None):
            raise ValueError("a certificate is matched by san_uri or by subject: give exactly one")
        return self


class ApiClient(Strict):
    """A machine caller, identified by an API key (``key_sha256``) or by a client certificate."""

    name: Name
    key_sha256: Secret | None = None
    certificate: CertificateMatch | None = None

    @model_validator(mode="after")
    def _one(self) -> ApiClient:
        if (self.key_sha256 is None) == (self.certificate is None):
            raise ValueError(
                f"API client {self.name} is identified by key_sha256 or by certificate: give exactly one"
            )
        return self


class Identity(Strict):
    providers: tuple[Provider, ...] = ()
    api_clients: tuple[ApiClient, ...] = ()

    @field_validator("providers")
    @classmethod
    def _providers(cls, providers: tuple[Provider, ...]) -> tuple[Provider, ...]:
        unique(tuple(str(p.issuer) for p in providers), "issuer")
        return names_unique(providers, "provider")

    @field_validator("api_clients")
    @classmethod
    def _clients(cls, clients: tuple[ApiClient, ...]) -> tuple[ApiClient, ...]:
        matches = tuple(c.certificate for c in clients if c.certificate is not None)
        unique(tuple(m.san_uri for m in matches if m.san_uri is not None), "certificate san_uri")
        unique(tuple(m.subject for m in matches if m.subject is not None), "certificate subject")
        return names_unique(clients, "api client")


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
    upstream: Duration = 30.0  # the response head, and then between two reads of its body
    idle: Duration = 60.0
    body: Duration = 60.0  # between two reads of a request body (nginx's client_body_timeout)

    @field_validator("connect", "header", "upstream", "idle", "body")
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
    # HTTP/2 streams one client connection may have open at once (advertised in SETTINGS)
    max_concurrent_streams: Annotated[int, Field(gt=0, le=1000)] = 100
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
        return names_unique(entrypoints, "entrypoint")
