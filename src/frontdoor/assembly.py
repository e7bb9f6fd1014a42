"""The composition root of the policy stages: the one place that knows every stage and their order.

``serve`` (proxy/runtime.py) and ``authz`` (authz/runtime.py) both build their Pipeline here, so the two
processes always run the same stages in the same order. A new stage is written against
frontdoor.policy.admission alone and added to the list below; no stage imports this module.
"""

from __future__ import annotations

from frontdoor.access.signin import SignIn
from frontdoor.access.stage import AccessStage
from frontdoor.plan import Plan
from frontdoor.policy.admission import StageContext
from frontdoor.policy.killswitch import KillSwitchStage, store_for
from frontdoor.policy.pipeline import Pipeline
from frontdoor.protection import protection_stages


def build_pipeline(plan: Plan, context: StageContext | None = None) -> Pipeline:
    """The stages in the contract's order: an operator's kill switch first, then who the caller is,
    then how much they may send, then whether the service can take more."""
    context = context or StageContext()
    return Pipeline(
        [
            KillSwitchStage(plan, store_for(plan, context)),
            AccessStage(plan, context=context),
            *protection_stages(plan, context),
        ]
    )


def signin_of(pipeline: Pipeline) -> SignIn | None:
    """The pipeline's browser sign-in (the access stage's), when some provider has a login block: the
    process answers the reserved /_frontdoor/ paths with it."""
    for stage in pipeline.stages:
        if isinstance(stage, AccessStage) and stage.signin:
            return stage.signin
    return None
