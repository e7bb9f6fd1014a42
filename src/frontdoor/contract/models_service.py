"""The Service document's spec (the app team's): routes, access, health, API, events, load, SLOs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from frontdoor.contract.models_common import Name, Strict, Waivers, unique
from frontdoor.contract.values import (
    NAME_PATTERN,
    ClaimValue,
    Method,
    PathPattern,
    Scope,
)

# --- Service ---------------------------------------------------------------------------------------


class AccessRule(Strict):
    """What a route requires. ``mode`` comes from the short forms ``public`` and ``authenticated``."""

    mode: Literal["public", "authenticated", "rule"] = "rule"
    scopes: tuple[Scope, ...] = ()
    claims: dict[Annotated[str, Field(min_length=1)], ClaimValue] = {}
    clients: tuple[Name, ...] = ()
    # the Edge's identity provider that signs browsers in when they come without a session
    login: Name | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> AccessRule:
        if self.mode == "rule" and not (self.scopes or self.claims or self.clients or self.login):
            raise ValueError("an access mapping needs at least one of scopes, claims, clients or login")
        unique(self.scopes, "scope")
        unique(self.clients, "client")
        return self

    @property
    def is_public(self) -> bool:
        return self.mode == "public"

    @property
    def requires_user(self) -> bool:
        """An end-user token (or a browser session) is needed: ``authenticated``, ``login``, or any scope
        or claim."""
        return self.mode == "authenticated" or bool(self.scopes or self.claims or self.login)

    def describe(self) -> str:
        if self.mode != "rule":
            return self.mode
        parts = []
        if self.login:
            parts.append("login " + self.login)
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
            "or a mapping of scopes, claims, clients, login"
        )
    if isinstance(value, dict):
        if "mode" in value:
            raise ValueError(
                "'mode' is not an access field: write public, authenticated, or scopes/claims/clients/login"
            )
        return value
    raise ValueError("access is public, authenticated, or a mapping of scopes, claims, clients and login")


_ACCESS_SCHEMA = {
    "description": "public, authenticated, or {scopes, claims, clients, login}",
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
                "login": {"type": "string", "pattern": NAME_PATTERN},
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
            unique(methods, "method")
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
