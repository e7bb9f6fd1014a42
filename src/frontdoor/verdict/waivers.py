"""Waivers: a gap accepted, in the contract, by the team that owns its fix, with a reason, until a date.

A waiver lives in the spec of a document its team owns (a Service for the app team's gaps, the Edge
for the platform team's, the Environment for the delivery team's) and names a gap by its rule and its
target (what the gap is about: an entrypoint, a service, a provider, a team, a topic). When ``check``
finds that gap:

- an active waiver (today is on or before ``expires``) made by a team the gap names as owning the fix
  takes the gap out of the failing findings and into the verdict's list of waived gaps;
- an expired one leaves the gap where it was, with a ``waiver-expired`` finding beside it;
- one made by a team that does not own the fix leaves the gap too, with a ``waiver-refused`` finding
  that names the team that does.

A waiver that matches no gap in the environments checked gets a ``waiver-unused`` note: the gap is
closed (remove the waiver), or its target is misspelt.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from frontdoor.contract.loaded import Contract
from frontdoor.contract.models import Waiver
from frontdoor.errors import Finding, Location

#: the kind of document each role's waivers go in, named in a refusal
_HOME = {"app": "Service", "platform": "Edge", "delivery": "Environment"}


@dataclass(frozen=True, slots=True)
class DeclaredWaiver:
    """A waiver as written: which document holds it, which team owns that document, where it is."""

    kind: str
    document: str
    owner: str
    waiver: Waiver
    where: Location | None
    #: the environments its document speaks for: an Edge's (None: every one), an Environment itself;
    #: a Service's waivers hold wherever the service is exposed
    scope: frozenset[str] | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.document}"

    def applies_in(self, environment: str | None) -> bool:
        for allowed in (self.waiver.environments, self.scope):
            if allowed is not None and (environment is None or environment not in allowed):
                return False
        return True


@dataclass(frozen=True, slots=True)
class WaivedGap:
    """A gap taken out of the failing findings by an active waiver of the team that owns its fix."""

    finding: Finding
    by: DeclaredWaiver

    @property
    def expires(self) -> datetime.date:
        return self.by.waiver.expires

    @property
    def reason(self) -> str:
        return self.by.waiver.reason

    def describe(self) -> str:
        return (
            f"{self.finding.rule} {self.finding.target}"
            + (f" in {self.finding.environment}" if self.finding.environment else "")
            + f": {self.reason} (accepted by {self.by.owner} in {self.by.label} until {self.expires})"
        )


def declared_waivers(contract: Contract) -> list[DeclaredWaiver]:
    """Every waiver of the contract, with the environments its document speaks for: an Edge's
    waiver never accepts a gap of an environment another Edge serves, even one with the same target."""
    found: list[DeclaredWaiver] = []

    def add(
        kind: str, name: str, owner: str, waivers: tuple[Waiver, ...], scope: frozenset[str] | None
    ) -> None:
        for index, waiver in enumerate(waivers):
            where = contract.locate(kind, name, "spec", "waivers", index)
            found.append(DeclaredWaiver(kind, name, owner, waiver, where, scope))

    for name, service in sorted(contract.services.items()):
        add("Service", name, service.owner, service.spec.waivers, None)
    for name, edge in sorted(contract.edges.items()):
        served = edge.metadata.environments
        add("Edge", name, edge.owner, edge.spec.waivers, None if served is None else frozenset(served))
    for name, env in sorted(contract.environments.items()):
        add("Environment", name, env.owner, env.spec.waivers, frozenset({name}))
    return found


def fix_teams(finding: Finding) -> list[str]:
    return [team.strip() for team in (finding.fix or "").split(",") if team.strip()]


@dataclass
class Applied:
    contract_findings: list[Finding]
    contract_waived: list[WaivedGap] = field(default_factory=list)


class _Matcher:
    def __init__(self, contract: Contract, today: datetime.date) -> None:
        self.contract = contract
        self.today = today
        self.waivers = declared_waivers(contract)
        self.used: set[int] = set()

    def _role_home(self, teams: list[str]) -> str:
        roles = [self.contract.teams[t].spec.role for t in teams if t in self.contract.teams]
        homes = sorted({_HOME[r] for r in roles})
        return " or ".join(f"a {h}" if h[0] not in "AEIOU" else f"an {h}" for h in homes) or "a document"

    def apply(
        self, findings: list[Finding], environment: str | None
    ) -> tuple[list[Finding], list[WaivedGap]]:
        """(the findings that remain, with any waiver findings; the gaps waived)."""
        kept: list[Finding] = []
        waived: list[WaivedGap] = []
        for finding in findings:
            extra, accepted = self._one(finding, environment)
            kept.extend(extra)
            if accepted is None:
                kept.append(finding)
            else:
                waived.append(accepted)
        return kept, waived

    def _one(self, finding: Finding, environment: str | None) -> tuple[list[Finding], WaivedGap | None]:
        if finding.severity not in ("gap", "warning") or finding.target is None:
            return [], None
        extra: list[Finding] = []
        owners = fix_teams(finding)
        accepted: WaivedGap | None = None
        for index, declared in enumerate(self.waivers):
            waiver = declared.waiver
            if (waiver.rule, waiver.target) != (finding.rule, finding.target):
                continue
            if not declared.applies_in(environment):
                continue
            self.used.add(index)
            if declared.owner not in owners:
                extra.append(self._refused(declared, finding, owners, environment))
            elif waiver.expires < self.today:
                extra.append(self._expired(declared, finding, environment))
            elif accepted is None:
                accepted = WaivedGap(finding, declared)
        return extra, accepted

    def _refused(
        self, declared: DeclaredWaiver, finding: Finding, owners: list[str], environment: str | None
    ) -> Finding:
        owning = ", ".join(owners) or "another team"
        return Finding(
            "waiver-refused",
            f"{declared.label} (owned by {declared.owner}) waives {finding.rule} for {finding.target}, "
            f"but the fix is {owning}'s: only {owning} may accept it, with a waiver in "
            f"{self._role_home(owners)} it owns; the gap stands",
            declared.where,
            declared.owner,
            "warning",
            environment,
            (finding.where,) if finding.where else (),
            target=finding.target,
        )

    def _expired(self, declared: DeclaredWaiver, finding: Finding, environment: str | None) -> Finding:
        return Finding(
            "waiver-expired",
            f"the waiver of {finding.rule} for {finding.target} expired on {declared.waiver.expires} "
            f"(it said: {declared.waiver.reason}): the gap is back; close it, or renew the waiver "
            "with a new date",
            declared.where,
            declared.owner,
            "warning",
            environment,
            (finding.where,) if finding.where else (),
            target=finding.target,
        )

    def unused(self, checked: list[str]) -> Iterator[Finding]:
        for index, declared in enumerate(self.waivers):
            if index in self.used:
                continue
            envs = [e for e in checked if declared.applies_in(e)]
            if not envs:
                continue  # it is for environments this run did not check
            waiver = declared.waiver
            yield Finding(
                "waiver-unused",
                f"{declared.label} waives {waiver.rule} for {waiver.target}, but no such gap is found "
                f"in {', '.join(envs)}: the gap is closed (remove the waiver) or the target is "
                "misspelt (check --format json names each gap's target)",
                declared.where,
                declared.owner,
                "note",
                target=waiver.target,
            )


class Judged(Protocol):
    """What waivers need of an environment's verdict (verdict/environment.py's EnvironmentVerdict, which
    imports this module): its gaps, and where the waived ones go."""

    name: str
    findings: list[Finding]
    waived: list[WaivedGap]


def apply_waivers(
    contract: Contract,
    verdicts: Sequence[Judged],
    contract_findings: list[Finding],
    today: datetime.date,
) -> Applied:
    """Take the waived gaps out of each verdict's findings (in place) and out of the contract-wide
    findings (returned), adding a finding for each expired, refused or unused waiver."""
    matcher = _Matcher(contract, today)
    if not matcher.waivers:
        return Applied(contract_findings)
    for verdict in verdicts:
        kept, verdict.waived = matcher.apply(verdict.findings, verdict.name)
        verdict.findings = sorted(kept, key=Finding.sort_key)
    kept, waived = matcher.apply(contract_findings, None)
    kept.extend(matcher.unused([v.name for v in verdicts]))
    return Applied(kept, waived)
