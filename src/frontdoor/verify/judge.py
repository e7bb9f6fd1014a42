"""An answer against what the contract expects of it; a miss is a Finding like ``check``'s: the rule,
the route's clause (file:line), the team that owns the fix (the platform team that runs the edge), and
the route's owner named in the message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from frontdoor.contract.loaded import Contract
from frontdoor.errors import Finding, Location
from frontdoor.plan import Plan, PlannedEntrypoint
from frontdoor.verify.client import Answer
from frontdoor.verify.probes import Probe

EXPECTED: Mapping[str, str] = {
    "challenge": "401 with a WWW-Authenticate challenge",
    "unauthorized": "401",
    "admitted": "an answer from the route (not 401, 403 or 405)",
    "forbidden": "403",
    "method": "405",
    "no-route": "404",
    "not-admitted": "a refusal (not 2xx)",
    "stopped": "503 naming the route's owner (the route is stopped)",
}

_RULE_BY_KIND = {
    "method": "verify-method",
    "no-route": "verify-no-route",
    "path-trick": "verify-path-trick",
    "token": "verify-access",
    "api-key": "verify-access",
    "stopped": "verify-stop",
}


def _met(probe: Probe, answer: Answer) -> bool:
    status = answer.status
    expect = probe.expect
    if expect == "challenge":
        challenges = answer.headers.get_list("www-authenticate")
        return status == 401 and any(c.split(" ", 1)[0].lower() == probe.scheme.lower() for c in challenges)
    if expect == "unauthorized":
        return status == 401
    if expect == "admitted":
        return status not in (401, 403, 405)
    if expect == "forbidden":
        return status == 403
    if expect == "method":
        return status == 405
    if expect == "no-route":
        return status == 404
    if expect == "stopped":
        owner = probe.route.owner if probe.route is not None else ""
        return status == 503 and owner.encode() in answer.body
    return not 200 <= status < 300  # not-admitted


def _rule(probe: Probe, answer: Answer) -> str:
    admitted = 200 <= answer.status < 400
    if probe.kind == "anonymous" and probe.expect in ("challenge", "forbidden"):
        if admitted:
            return "verify-open-door"
        return "verify-challenge" if probe.expect == "challenge" and answer.status == 401 else "verify-access"
    if probe.expect == "unauthorized":
        return "verify-forged-token"
    return _RULE_BY_KIND.get(probe.kind, "verify-access")


def route_text(probe: Probe) -> str:
    route = probe.route
    if route is None:
        return ""
    return (
        f" (route {route.method_text} {route.path} of service {route.service}, access: "
        f"{route.access.describe()}, owned by {route.owner})"
    )


def judge(probe: Probe, answer: Answer, environment: str, platform: str) -> Finding | None:
    if _met(probe, answer):
        return None
    rule = _rule(probe, answer)
    lead = "open door: " if rule == "verify-open-door" else ""
    message = (
        f"{lead}{probe.label} {probe.about}: expected {EXPECTED[probe.expect]}, got {answer.status}"
        f"{route_text(probe)}; request id {answer.request_id}"
    )
    return Finding(rule, message, probe.where, platform, "error", environment, target=_target(probe))


def unanswered(probe: Probe, error: str, environment: str, platform: str) -> Finding:
    message = f"{probe.label} {probe.about}: no answer ({error}){route_text(probe)}"
    return Finding(
        "verify-unanswered", message, probe.where, platform, "error", environment, target=_target(probe)
    )


def _target(probe: Probe) -> str | None:
    route = probe.route
    return None if route is None else f"{route.service}:{route.path}"


@dataclass(frozen=True)
class Clauses:
    """Where the Edge says what a finding about it contradicts, and the finding itself."""

    contract: Contract
    plan: Plan
    entrypoint: PlannedEntrypoint

    def of_entrypoint(self, *path: str) -> Location | None:
        edge = self.plan.edge
        index = next(i for i, e in enumerate(edge.spec.entrypoints) if e.name == self.entrypoint.name)
        return self.contract.locate("Edge", edge.name, "spec", "entrypoints", index, *path)

    def of_rate_limit(self, service: str) -> Location | None:
        edge = self.plan.edge
        limits = edge.spec.rate_limits
        if limits is not None and service in limits.services:
            return self.contract.locate("Edge", edge.name, "spec", "rate_limits", "services", service)
        return self.contract.locate("Edge", edge.name, "spec", "rate_limits", "default")

    def finding(self, rule: str, message: str, where: Location | None, target: str) -> Finding:
        plan = self.plan
        return Finding(rule, message, where, plan.platform_team, "error", plan.environment, target=target)
