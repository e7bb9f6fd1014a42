"""The reference decision of a row (what the contract requires, else serve's) and the aspects in
which a mode's outcome differs from it."""

from __future__ import annotations

from dataclasses import dataclass

from .cases import Row
from .outcome import KIND_OF_STATUS, Outcome

#: the columns, in the printed order
MODES = (
    "serve",
    "nginx-authz",
    "nginx-rendered",
    "caddy-authz",
    "gateway-api",
    "gateway-api-external",
    "ingress-nginx",
    "traefik",
    "traefik-live",  # the traefik render on a real Traefik (file provider: traefik_file.py)
)
KUBERNETES = ("gateway-api", "gateway-api-external", "ingress-nginx", "traefik")


@dataclass
class Reference:
    status: int
    kind: str | None
    identity: dict[str, str] | None  # None: not known (serve did not allow it)
    upstream: str | None
    backend: str | None
    challenge: dict[str, str] | None  # serve's, when serve gave the required status


def reference(row: Row, served: Outcome) -> Reference:
    status = row.expected if row.expected is not None else served.status
    identity = dict(served.identity) if served.status == 200 and served.identity else None
    if identity is not None and row.subject is not None:
        identity["x-frontdoor-subject"] = row.subject
    agrees = served.status == status
    return Reference(
        status,
        None if status == 200 else KIND_OF_STATUS.get(status),
        identity if agrees else None,
        row.upstream or (served.upstream if agrees else None),
        row.backend or (served.backend if agrees else None),
        served.challenge if agrees else None,
    )


#: modes that must name the kind of every denial in X-Frontdoor-Deny (issue 13, item 4); the others
#: are compared on the kind when they name one
NAMES_EVERY_DENIAL = ("nginx-rendered",)


def differences(mode: str, ref: Reference, got: Outcome) -> list[str]:
    """The aspects in which ``got`` is not the reference decision."""
    found = []
    if got.status != ref.status:
        found.append("status")
    named = got.kind is not None and got.kind != ref.kind
    unnamed = got.kind is None and mode in NAMES_EVERY_DENIAL
    if ref.status != 200 and got.status != 200 and ref.kind is not None and (named or unnamed):
        found.append("kind")
    known = ref.challenge is not None and got.challenge is not None
    if ref.status == got.status != 200 and known and got.challenge != ref.challenge:
        found.append("challenge")
    if ref.status == 200 and got.status == 200:
        if ref.identity is not None and got.identity and got.identity != ref.identity:
            found.append("identity")
        if ref.upstream is not None and got.upstream is not None and got.upstream != ref.upstream:
            found.append("upstream")
        if ref.backend is not None and got.backend is not None and got.backend != ref.backend:
            found.append("backend")
    return found
