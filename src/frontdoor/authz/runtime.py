"""What ``frontdoor authz`` decides with: the command line's settings and, per contract load, the runtime
(the plan, the checker with its pipeline, the limits of a check request)."""

from __future__ import annotations

from dataclasses import dataclass

from frontdoor.access.signin import SignIn
from frontdoor.assembly import build_pipeline, signin_of
from frontdoor.authz.decide import LOOPBACK, Checker, chosen_entrypoints
from frontdoor.contract.models import Timeouts
from frontdoor.contract.values import ListenAddress
from frontdoor.errors import FrontdoorError
from frontdoor.http.h1 import Limits
from frontdoor.networks import Network
from frontdoor.plan import Plan
from frontdoor.policy.admission import StageContext


@dataclass(frozen=True)
class Settings:
    """What the command line says, beyond the contract."""

    listen: ListenAddress
    dialect: str = "auto"
    path_prefix: str = ""
    trusted: tuple[Network, ...] = LOOPBACK
    entrypoint: str | None = None
    admin_listen: ListenAddress | None = None  # instead of the Edge's admin.listen


@dataclass
class AuthzRuntime:
    """Built once per contract load; a reload builds a new one."""

    plan: Plan
    checker: Checker
    limits: Limits
    timeouts: Timeouts
    signin: SignIn | None = None  # browser sign-in: the /_frontdoor/ paths an ingress sends here


def build_authz_runtime(plan: Plan, settings: Settings, context: StageContext | None = None) -> AuthzRuntime:
    try:
        chosen_entrypoints(plan, settings.entrypoint, settings.path_prefix)  # before any stage is built
        pipeline = build_pipeline(plan, context)
        checker = Checker(
            plan,
            pipeline,
            settings.trusted,
            settings.dialect,
            settings.path_prefix,
            settings.entrypoint,
        )
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    protection = plan.edge.spec.protection
    return AuthzRuntime(
        plan,
        checker,
        Limits(protection.max_header_bytes, 100, protection.max_request_body),
        protection.timeouts,
        signin_of(pipeline),
    )
