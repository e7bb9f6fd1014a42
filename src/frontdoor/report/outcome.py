"""The one boundary between a check report and the CI formats (github, sarif, junit, quiet text).

Every CI format is written over an ``Outcome``: each group of findings (the invalid contract, one
environment, the findings across environments), each finding marked failing or not, and the verdict
line. Only ``outcome()`` knows the shape of ``CheckReport``; when the report changes (several
environments asked at once, waivers), this is the function to adapt.
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdoor.errors import Finding
from frontdoor.report.check import CheckReport


@dataclass(frozen=True)
class Judged:
    finding: Finding
    failing: bool  # counts against the verdict (an error, a gap, or a warning with --strict)

    @property
    def level(self) -> str:
        """error, warning or note: how a CI annotation shows it. What fails is an error there."""
        if self.failing:
            return "error"
        return "warning" if self.finding.severity == "warning" else "note"


@dataclass(frozen=True)
class Group:
    """A set of findings judged together: ``contract`` (errors of an invalid contract), an
    environment's name, or ``across environments``."""

    name: str
    production: bool
    findings: tuple[Judged, ...]

    @property
    def failing(self) -> tuple[Judged, ...]:
        return tuple(j for j in self.findings if j.failing)


@dataclass(frozen=True)
class Outcome:
    root: str
    valid: bool
    groups: tuple[Group, ...]
    verdict: str  # the last line of the text output
    exit_code: int

    @property
    def findings(self) -> tuple[Judged, ...]:
        return tuple(j for group in self.groups for j in group.findings)


CONTRACT = "contract"
ACROSS = "across environments"


def verdict_line(report: CheckReport) -> str:
    if report.errors:
        return f"invalid: {len(report.errors)} error(s) in {report.root}; fix them and run check again"
    failing = report.failing()
    waived = report.waived()
    accepted = ""
    if waived:
        until = min(w.expires for w in waived)
        accepted = f" ({len(waived)} gap(s) waived by their owners, the first waiver expires {until})"
    summary = f" [{_summary(report)}]" if len(report.environments) > 1 else ""
    if failing:
        return f"not ready: {len(failing)} gap(s) to close{accepted}{summary}"
    return f"ready: every production check passes{accepted}{summary}"


def _summary(report: CheckReport) -> str:
    """One verdict per environment, for a run that checked several: the exit code is the worst."""
    parts = []
    for v in report.environments:
        failing = len(v.failing(report.strict))
        state = f"{failing} gap(s)" if failing else "ready"
        parts.append(f"{v.name} {state}" + (f", {len(v.waived)} waived" if v.waived else ""))
    return "; ".join(parts)


def outcome(report: CheckReport) -> Outcome:
    groups: list[Group] = []
    if report.errors:
        judged = [Judged(f, True) for f in report.errors]
        judged += [Judged(f, False) for f in report.contract_findings]
        groups.append(Group(CONTRACT, False, tuple(judged)))
    else:
        for verdict in report.environments:
            failing = verdict.failing(report.strict)
            groups.append(
                Group(
                    verdict.name,
                    verdict.production,
                    tuple(Judged(f, f in failing) for f in verdict.findings),
                )
            )
        failing = report.failing()
        across = tuple(Judged(f, f in failing) for f in report.contract_findings)
        if across:
            groups.append(Group(ACROSS, False, across))
    return Outcome(report.root, report.valid, tuple(groups), verdict_line(report), report.exit_code)
