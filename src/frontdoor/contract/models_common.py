"""What every kind of contract document shares: names, roles, the strict base model, waivers."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from frontdoor.contract.values import (
    NAME_PATTERN,
)

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lowercase letters, digits and '-'")]
Role = Literal["app", "platform", "delivery"]
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


def unique(values: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value)
    return values


def names_unique(items: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    unique(tuple(item.name for item in items), what)
    return items


# --- waivers (a gap accepted by the team that owns its fix, for a while) ------------------------------

#: the production checks a waiver may accept: gaps (and warnings, which fail with --strict); never an
#: error, which makes the contract invalid
WaivableRule = Literal[
    "tls-required",
    "client-auth-missing",
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
