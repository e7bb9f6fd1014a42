"""A verify report in the formats ``check`` prints. text and json are verify's own; github, sarif and
junit are ``check``'s modules, written over the same boundary (report/outcome.py's ``Outcome``), so a
CI reads verify's findings exactly as it reads check's."""

from __future__ import annotations

import json
from typing import Any

from frontdoor.report.github import github_annotations
from frontdoor.report.jsonout import finding_json
from frontdoor.report.junit import check_junit
from frontdoor.report.outcome import Group, Judged, Outcome
from frontdoor.report.sarif import check_sarif
from frontdoor.verify.run import VerifyReport

FORMATS = ("text", "json", "github", "sarif", "junit")
FORMAT = "frontdoor-verify/v1"


def outcome(report: VerifyReport) -> Outcome:
    group = Group(report.environment, report.production, tuple(Judged(f, True) for f in report.findings))
    return Outcome(report.root, True, (group,), report.verdict(), report.exit_code)


def report_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "environment": report.environment,
        "production": report.production,
        "base_url": report.base_url,
        "entrypoint": report.entrypoint,
        "probes": report.probes,
        "requests": report.requests,
        "kinds": dict(sorted(report.kinds.items())),
        "seconds": round(report.seconds, 3),
        "findings": [finding_json(f) for f in report.findings],
        "skipped": report.skipped,
        "verdict": report.verdict(),
        "exit_code": report.exit_code,
    }


def report_text(report: VerifyReport) -> str:
    lines = [finding.render() for finding in report.findings]
    lines += [f"skipped: {reason}" for reason in report.skipped]
    lines.append(report.verdict())
    return "\n".join(lines) + "\n"


def render(report: VerifyReport, form: str, indent: int | None = None) -> str:
    if form == "json":
        return json.dumps(report_json(report), indent=indent) + "\n"
    if form == "github":
        return github_annotations(outcome(report))
    if form == "sarif":
        return json.dumps(check_sarif(outcome(report)), indent=indent) + "\n"
    if form == "junit":
        return check_junit(outcome(report), "frontdoor verify")
    return report_text(report)
