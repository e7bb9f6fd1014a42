"""``frontdoor check``: validate, then the verdict of each environment, and the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from frontdoor.contract.load import load_contract
from frontdoor.contract.verdict import EnvironmentVerdict, environment_verdict, event_gaps
from frontdoor.errors import Finding

EXIT_READY, EXIT_GAPS, EXIT_INVALID = 0, 1, 2


@dataclass
class CheckReport:
    root: str
    strict: bool
    errors: list[Finding] = field(default_factory=list)
    environments: list[EnvironmentVerdict] = field(default_factory=list)
    contract_findings: list[Finding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def failing(self) -> list[Finding]:
        failing = [f for v in self.environments for f in v.failing(self.strict)]
        failing += [
            f
            for f in self.contract_findings
            if f.severity == "gap" or (self.strict and f.severity == "warning")
        ]
        return failing

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_INVALID
        return EXIT_GAPS if self.failing() else EXIT_READY


def run_check(root: Path, environment: str | None = None, strict: bool = False) -> CheckReport:
    result = load_contract(root)
    report = CheckReport(str(root), strict)
    report.errors = [f for f in result.findings if f.severity == "error"]
    warnings = [f for f in result.findings if f.severity != "error"]
    if report.errors:
        report.contract_findings = warnings
        return report
    contract = result.contract
    if environment is not None and environment not in contract.environments:
        known = ", ".join(contract.promotion_order()) or "none"
        report.errors = [
            Finding("unknown-environment", f"no Environment named {environment} (declared: {known})")
        ]
        return report
    names = [environment] if environment else contract.promotion_order()
    report.environments = [environment_verdict(contract, name) for name in names]
    production = any(v.production for v in report.environments)
    events = [f if production else f.with_severity("warning") for f in event_gaps(contract)]
    report.contract_findings = sorted(warnings + events, key=Finding.sort_key)
    return report
