"""The markdown form of ``frontdoor check``, for a pull-request comment."""

from __future__ import annotations

from frontdoor.errors import Finding
from frontdoor.report.check import CheckReport
from frontdoor.verdict.waivers import WaivedGap


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _findings(findings: list[Finding]) -> list[str]:
    lines = []
    for f in findings:
        where = f"`{f.where}` " if f.where else ""
        lines.append(
            f"- **{f.severity}** {where}`{f.rule}`: {_cell(f.message)}"
            + (f" (fix: {f.fix})" if f.fix else "")
        )
    return lines


def _waived(waived: list[WaivedGap]) -> list[str]:
    if not waived:
        return []
    return [
        "",
        "Waived (accepted by the team that owns the fix, until the date):",
        "",
        *(
            f"- `{w.by.where}` {_cell(w.describe())}" if w.by.where else f"- {_cell(w.describe())}"
            for w in waived
        ),
    ]


def check_markdown(report: CheckReport) -> str:
    out = [f"## frontdoor check: `{report.root}`", ""]
    if report.errors:
        findings = report.errors + report.contract_findings
        out += [f"**Invalid contract**: {len(report.errors)} error(s).", "", *_findings(findings), ""]
        return "\n".join(out)
    for v in report.environments:
        failing = v.failing(report.strict)
        state = "ready" if not failing else f"{len(failing)} gap(s)"
        state += f", {len(v.waived)} waived" if v.waived else ""
        out += [f"### {v.name} ({'production' if v.production else 'non-production'}): {state}", ""]
        out += ["| entrypoint | listen | hosts | TLS | services |", "|---|---|---|---|---|"]
        out += [
            f"| {e.name} | {e.listen} | {', '.join(e.hosts)} | {e.tls} | {', '.join(e.services)} |"
            for e in v.entrypoints
        ]
        out += [
            "",
            "| route | service | access | stop & secure | explain | roll back |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| `{r.methods} {r.path}` | {r.service} | {_cell(r.access)} | {r.stop.describe()} | "
            f"{r.explain.describe()} | {r.rollback.describe()} |"
            for r in v.routes
        ]
        out += [
            "",
            f"Identity providers: {', '.join(v.providers) or 'none'}. "
            f"Metrics: {v.visibility['metrics']}; access log: {v.visibility['access_log']}; "
            f"tracing: {v.visibility['tracing']}; "
            f"operators: {', '.join(t.name for t in v.operators) or 'none'}.",
            "",
        ]
        out += _findings(v.findings)
        out += _waived(v.waived)
        out.append("")
    if report.contract_findings or report.contract_waived:
        out += ["### across environments", "", *_findings(report.contract_findings)]
        out += [*_waived(report.contract_waived), ""]
    if len(report.environments) > 1:
        out += ["| environment | verdict | waived |", "|---|---|---|"]
        for v in report.environments:
            gaps = len(v.failing(report.strict))
            out.append(f"| {v.name} | {f'{gaps} gap(s)' if gaps else 'ready'} | {len(v.waived)} |")
        out.append("")
    waived = len(report.waived())
    note = f" {waived} gap(s) waived by their owners." if waived else ""
    out.append(
        f"**Ready.**{note}" if report.exit_code == 0 else f"**Not ready**: exit {report.exit_code}.{note}"
    )
    return "\n".join(out) + "\n"
