"""``frontdoor check``: validate, then the verdict of each environment, and the exit code.

The result is plain data (a CheckReport holding one EnvironmentVerdict per environment checked) that
every output format reads: text, json, markdown, and any other.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from frontdoor.contract.load import Contract, load_contract
from frontdoor.errors import Finding
from frontdoor.verdict.environment import EnvironmentVerdict, environment_verdict, event_gaps
from frontdoor.verdict.waivers import WaivedGap, apply_waivers

EXIT_READY, EXIT_GAPS, EXIT_INVALID = 0, 1, 2


@dataclass
class CheckReport:
    root: str
    strict: bool
    errors: list[Finding] = field(default_factory=list)
    environments: list[EnvironmentVerdict] = field(default_factory=list)
    contract_findings: list[Finding] = field(default_factory=list)
    #: gaps across environments (events) that their owner accepted, with the waiver
    contract_waived: list[WaivedGap] = field(default_factory=list)

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

    def waived(self) -> list[WaivedGap]:
        """Every active waiver applied, in every environment checked."""
        return [w for v in self.environments for w in v.waived] + self.contract_waived

    @property
    def exit_code(self) -> int:
        """The worst of every environment checked: invalid (2), then gaps (1), then ready (0)."""
        if self.errors:
            return EXIT_INVALID
        return EXIT_GAPS if self.failing() else EXIT_READY


def _team_of_role(contract: Contract, role: str) -> str:
    teams = sorted(n for n, t in contract.teams.items() if t.spec.role == role)
    return teams[0] if len(teams) == 1 else f"a {role} team"


def missing_parts(contract: Contract, asked: Sequence[str]) -> list[Finding]:
    """A contract with nothing to check is not ready: no Environment, no Edge, or not the one asked.
    (A directory with only teams.yaml, or CI pointed at the wrong folder, must never pass.)"""
    findings: list[Finding] = []
    declared = contract.promotion_order()
    delivery, platform = _team_of_role(contract, "delivery"), _team_of_role(contract, "platform")
    for name in asked:
        if name not in contract.environments:
            findings.append(
                Finding(
                    "unknown-environment",
                    f"no Environment named {name} (declared: {', '.join(declared) or 'none'}): check "
                    f"the name, or declare it, for example environments/{name}.yaml with kind: "
                    f"Environment, metadata: {{name: {name}, owner: {delivery}}} (docs/contract.md)",
                    fix=delivery,
                )
            )
    if not asked and not contract.environments:
        findings.append(
            Finding(
                "environment-missing",
                f"no Environment is declared in {contract.root}, so there is nothing to check (is this "
                "the contract's folder?): declare one, for example environments/prod.yaml with kind: "
                f"Environment, metadata: {{name: prod, owner: {delivery}}}, spec: {{production: true, "
                "upstreams: {...}} (docs/contract.md)",
                fix=delivery,
            )
        )
    if not contract.edges:
        findings.append(
            Finding(
                "edge-missing",
                f"no Edge is declared in {contract.root}: clients have no way in; declare one, for "
                f"example edges/public.yaml with kind: Edge, metadata: {{name: public, owner: "
                f"{platform}}} and spec.entrypoints (docs/contract.md)",
                fix=platform,
            )
        )
    return findings


def _names(environments: str | Sequence[str] | None) -> list[str]:
    if environments is None:
        return []
    if isinstance(environments, str):
        return [environments]
    return list(dict.fromkeys(environments))  # --env prod --env prod checks prod once


def run_check(
    root: Path,
    environments: str | Sequence[str] | None = None,
    strict: bool = False,
    today: datetime.date | None = None,
) -> CheckReport:
    """Check the environments named (every one when none is), waivers compared with ``today``."""
    today = today or datetime.date.today()
    asked = _names(environments)
    result = load_contract(root)
    report = CheckReport(str(root), strict)
    report.errors = [f for f in result.findings if f.severity == "error"]
    warnings = [f for f in result.findings if f.severity != "error"]
    if report.errors:
        report.contract_findings = warnings
        return report
    contract = result.contract
    report.errors = missing_parts(contract, asked)
    if report.errors:
        report.contract_findings = warnings
        return report
    names = asked or contract.promotion_order()
    report.environments = [environment_verdict(contract, name) for name in names]
    production = any(v.production for v in report.environments)
    events = [f if production else f.with_severity("warning") for f in event_gaps(contract)]
    applied = apply_waivers(contract, report.environments, [*warnings, *events], today)
    report.contract_findings = sorted(applied.contract_findings, key=Finding.sort_key)
    report.contract_waived = applied.contract_waived
    return report
