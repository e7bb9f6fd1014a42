"""What every answer of an entrypoint must carry, judged over the whole run rather than per probe: HSTS
where the entrypoint declares it, and the RateLimit fields on what a rate-limited service admitted.
One finding per entrypoint or service, with a count and an example, not one per answer."""

from __future__ import annotations

from frontdoor.errors import Finding
from frontdoor.http.messages import HSTS
from frontdoor.verify.client import Answer
from frontdoor.verify.judge import Clauses
from frontdoor.verify.probes import Probe


class Observations:
    def __init__(self, clauses: Clauses) -> None:
        self.clauses = clauses
        self.hsts = clauses.entrypoint.sends_hsts
        self.answered = 0
        self.without_hsts: list[str] = []
        self.without_fields: dict[str, list[str]] = {}  # service -> admitted answers without RateLimit
        self.with_fields: set[str] = set()

    def add(self, probe: Probe, answer: Answer) -> None:
        self.answered += 1
        example = f"{probe.label} ({answer.status})"
        if self.hsts and "strict-transport-security" not in answer.headers:
            self.without_hsts.append(example)
        route = probe.route
        if route is None or not 200 <= answer.status < 300:
            return
        if self.clauses.plan.rate_limit_for(route.service) is None:
            return
        if "ratelimit" in answer.headers and "ratelimit-policy" in answer.headers:
            self.with_fields.add(route.service)
        else:
            self.without_fields.setdefault(route.service, []).append(example)

    def findings(self) -> list[Finding]:
        clauses = self.clauses
        name = clauses.entrypoint.name
        found = []
        if self.without_hsts:
            found.append(
                clauses.finding(
                    "verify-hsts",
                    f"entrypoint {name} declares hsts but {len(self.without_hsts)} of {self.answered} "
                    f"answers carry no Strict-Transport-Security (expected {HSTS!r}), "
                    f"e.g. {self.without_hsts[0]}",
                    clauses.of_entrypoint("tls", "hsts"),
                    name,
                )
            )
        for service, missing in sorted(self.without_fields.items()):
            found.append(
                clauses.finding(
                    "verify-ratelimit-headers",
                    f"service {service} has a rate limit but {len(missing)} admitted answer(s) carry no "
                    f"RateLimit / RateLimit-Policy fields, e.g. {missing[0]}",
                    clauses.of_rate_limit(service),
                    service,
                )
            )
        return found

    def unobserved(self) -> list[str]:
        plan = self.clauses.plan
        services = [s for s in self.clauses.entrypoint.services if plan.rate_limit_for(s) is not None]
        missed = [s for s in sorted(services) if s not in self.with_fields and s not in self.without_fields]
        if not missed:
            return []
        return ["rate-limit fields not observed (no probe was admitted) for: " + ", ".join(missed)]
