"""What one mode did with one request, and how a real mode's answer is read into it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..parity_cases import IDENTITY

#: the deny kind of each of serve's statuses (serve names none; authz's X-Frontdoor-Deny does)
KIND_OF_STATUS = {
    400: "bad-request",
    401: "access",
    403: "access",
    404: "no-route",
    405: "method-not-allowed",
    429: "rate-limit",
    503: "kill-switch",
}


@dataclass
class Outcome:
    status: int
    kind: str | None = None  # X-Frontdoor-Deny, when the answer names one
    identity: dict[str, str] = field(default_factory=dict)  # what the upstream received, on a 200
    upstream: str | None = None  # the target the upstream received
    backend: str | None = None  # the service whose upstream answered
    rule: str = ""  # Kubernetes: the rule the evaluator chose (for the report)

    def cell(self) -> str:
        """The matrix cell's text: the status, and the kind of a denial."""
        return str(self.status) + (f" {self.kind}" if self.kind and self.status != 200 else "")


def read_answer(status: int, headers: dict[str, str], body: bytes) -> Outcome:
    """A real mode's answer: on a 200 the demo upstream's echo (service, target, identity)."""
    kind = headers.get("x-frontdoor-deny") or None
    if status != 200 or not body:  # a denial, or the answer to a HEAD
        return Outcome(status, kind)
    try:
        echo = json.loads(body)
    except ValueError:
        return Outcome(status, kind, upstream="(not the upstream's echo)")
    if not isinstance(echo, dict) or "headers" not in echo:
        return Outcome(status, kind, upstream="(not the upstream's echo)")
    seen = echo["headers"]
    identity = {name: seen.get(name, "") for name in IDENTITY}
    return Outcome(status, kind, identity, echo.get("path"), echo.get("service"))
