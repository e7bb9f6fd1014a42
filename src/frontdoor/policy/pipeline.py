"""The policy stages every routed request passes, in order, before it goes upstream.

Each stage is built once from the Plan and answers ``None`` (go on) or a Denial. The order is the
contract's: an operator's kill switch first, then who the caller is, then how much they may send,
then whether the service can take more. Stages still to be filled in by later work say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from frontdoor.http.h1 import RequestHead
from frontdoor.plan import Plan, PlannedRoute


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    reason: str  # safe to show the client: never a secret, never an internal detail
    rule: str  # the stage and clause that denied, for the log and the admin view
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Stage(Protocol):
    name: str

    def check(self, head: RequestHead, route: PlannedRoute, now: float) -> Denial | None: ...


class AccessStage:
    """Deny unless the contract allows: until token and API-key verification exist, only routes whose
    access is ``public`` are let through; every other route answers 401 with a Bearer challenge."""

    name = "access"
    _CHALLENGE = ((b"www-authenticate", b'Bearer realm="frontdoor"'),)

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def check(self, head: RequestHead, route: PlannedRoute, now: float) -> Denial | None:
        if route.access.is_public:
            return None
        return Denial(
            401,
            "this route needs credentials the gateway cannot verify yet",
            f"access: {route.access.describe()}",
            self._CHALLENGE,
        )


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)

    def check(self, head: RequestHead, route: PlannedRoute, now: float) -> Denial | None:
        for stage in self.stages:
            denial = stage.check(head, route, now)
            if denial is not None:
                return denial
        return None


def build_pipeline(plan: Plan) -> Pipeline:
    # kill switch, rate limits and load shedding join here as they are built
    return Pipeline([AccessStage(plan)])
