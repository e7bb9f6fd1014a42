"""The policy stages every routed request passes, in order, before it goes upstream.

Each stage is built once from the Plan and answers ``None`` (go on), a Denial, or, only when it must
wait on the network (a JWKS refresh, a shared rate-limit store), an awaitable of either. The common
case stays a few synchronous calls: the gateway creates a task only for a request whose answer is
really pending. The order is the contract's: an operator's kill switch first, then who the caller is,
then how much they may send, then whether the service can take more (frontdoor.assembly builds
them in that order).

``serve`` and ``authz`` run the same Pipeline on an Admission; only how they build the Admission (the
request itself, or the original request an ingress asks about) and what they do with the answer differ.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from frontdoor.policy.admission import Admission, Denial, Stage, Verdict


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        # the stages' bound checks, looked up once: calling one skips finding "check" by name
        self._checks: tuple[Callable[[Admission], Verdict], ...] = tuple(stage.check for stage in stages)

    def check(self, admission: Admission) -> Verdict:
        """The first Denial, or None to admit; an awaitable when a stage has to wait."""
        checks = self._checks
        for index, check in enumerate(checks):
            verdict = check(admission)
            if verdict is None:
                continue
            if isinstance(verdict, Denial):
                return verdict
            if index + 1 == len(checks):
                return verdict  # the last stage: its awaitable as is (a future needs no task)
            return self._resume(verdict, index + 1, admission)
        return None

    async def _resume(
        self, pending: Awaitable[Denial | None], start: int, admission: Admission
    ) -> Denial | None:
        verdict = await pending
        if verdict is not None:
            return verdict
        for check in self._checks[start:]:
            step = check(admission)
            if step is None:
                continue
            if isinstance(step, Denial):
                return step
            step = await step
            if step is not None:
                return step
        return None
