"""What one mode did with one request, and how a real mode's answer is read into it."""

from __future__ import annotations

import http.client
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
    challenge: dict[str, str] | None = None  # a denial's WWW-Authenticate, Allow, Retry-After; None: unknown

    def cell(self) -> str:
        """The matrix cell's text: the status, and the kind of a denial."""
        return str(self.status) + (f" {self.kind}" if self.kind and self.status != 200 else "")


#: what a client needs from a denial besides its status: how to authenticate, which methods, when again
CHALLENGE = ("www-authenticate", "allow", "retry-after")


def challenge(headers: dict[str, str]) -> dict[str, str]:
    """A denial's challenge headers (Retry-After only as present: the two processes' clocks differ)."""
    found = {name: headers[name] for name in CHALLENGE if name in headers}
    if "retry-after" in found:
        found["retry-after"] = "present"
    return found


def exchange(
    port: int, method: str, target: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request; repeated response fields joined with ", " (RFC 9110 5.3), so that two challenges
    (Bearer and ApiKey) are both seen."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        fields: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        return response.status, fields, response.read()
    finally:
        connection.close()


def read_answer(status: int, headers: dict[str, str], body: bytes) -> Outcome:
    """A real mode's answer: on a 200 the demo upstream's echo (service, target, identity)."""
    kind = headers.get("x-frontdoor-deny") or None
    if status != 200:
        return Outcome(status, kind, challenge=challenge(headers))
    if not body:  # the answer to a HEAD
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
