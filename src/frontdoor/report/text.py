"""The human form of ``frontdoor check``, with rich: tables, and colour only on a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from frontdoor.errors import Finding
from frontdoor.report.check import CheckReport
from frontdoor.report.console import heading, print_table
from frontdoor.report.outcome import verdict_line
from frontdoor.verdict.environment import EnvironmentVerdict
from frontdoor.verdict.waivers import WaivedGap

_STYLE = {"error": "bold red", "gap": "red", "warning": "yellow", "note": "cyan"}


_HEADINGS = {
    "gap": "gaps (each must be closed before this is production)",
    "warning": "warnings (they fail with --strict)",
    "note": "notes",
}


def print_findings(console: Console, findings: list[Finding]) -> None:
    """Errors one per line as ``file:line: rule-id: message (fix: team)``; the rest under a heading."""
    for finding in findings:
        if finding.severity == "error":
            console.print(Text(finding.render(), style=_STYLE["error"]), soft_wrap=True)
    for severity, title in _HEADINGS.items():
        group = [f for f in findings if f.severity == severity]
        if group:
            console.print(Text(f"{title}:", style=_STYLE[severity]))
            for finding in group:
                console.print(Text("  " + finding.render()), soft_wrap=True)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_lines=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def print_environment(console: Console, verdict: EnvironmentVerdict, strict: bool) -> None:
    failing = verdict.failing(strict)
    state = (
        Text("READY", style="bold green") if not failing else Text(f"{len(failing)} GAP(S)", style="bold red")
    )
    if verdict.waived:
        state.append(f", {len(verdict.waived)} WAIVED", style="cyan")
    kind = "production" if verdict.production else "non-production"
    heading(console, Text.assemble(f"{verdict.name} ({kind}, Edge {verdict.edge}): ", state))

    entry = _table("1. How do clients enter?", "entrypoint", "listen", "hosts", "TLS", "services")
    for e in verdict.entrypoints:
        entry.add_row(e.name, e.listen, ", ".join(e.hosts), e.tls, ", ".join(e.services) or "-")
    print_table(console, entry)
    routes = _table(
        "   Route table", "entrypoint", "path", "methods", "service", "access", "rate limit", "upstreams"
    )
    for r in verdict.routes:
        routes.add_row(
            r.entrypoint,
            r.path,
            r.methods,
            r.service,
            r.access,
            r.rate_limit or "none",
            "\n".join(r.upstreams) or "none",
        )
    print_table(console, routes)

    console.print(Text("2. How is access controlled?", style="bold"))
    console.print(f"   identity providers: {', '.join(verdict.providers) or 'none'}")
    console.print(f"   API clients: {', '.join(verdict.api_clients) or 'none'}")
    console.print(f"   public routes: {', '.join(verdict.public_routes) or 'none'}")

    console.print(Text("3. Who can see and manage traffic?", style="bold"))
    for key, value in verdict.visibility.items():
        console.print(f"   {key.replace('_', ' ')}: {value}")
    console.print(f"   operators: {', '.join(t.describe() for t in verdict.operators) or 'none'}")

    oncall = _table("4. Who is on the hook at 2am?", "team", "role", "on-call", "escalation", "hours")
    for t in verdict.teams:
        oncall.add_row(t.name, t.role or "?", t.primary or "NONE", t.escalation or "-", t.hours or "-")
    print_table(console, oncall)

    owners = _table("   If a route misbehaves tonight", "route", "stop & secure", "explain", "roll back")
    for r in verdict.routes:
        owners.add_row(
            f"{r.methods} {r.path} ({r.service})",
            r.stop.describe(),
            r.explain.describe(),
            r.rollback.describe(),
        )
    print_table(console, owners)
    print_waived(console, verdict.waived)
    console.print()


def print_waived(console: Console, waived: list[WaivedGap]) -> None:
    if not waived:
        return
    console.print(Text("waived (accepted by the team that owns the fix, until the date):", style="cyan"))
    for gap in waived:
        where = f"{gap.by.where}: " if gap.by.where else ""
        console.print(Text(f"  {where}{gap.describe()}"), soft_wrap=True)


def _state(verdict: EnvironmentVerdict, strict: bool) -> str:
    failing = verdict.failing(strict)
    kind = "production" if verdict.production else "non-production"
    return f"{verdict.name} ({kind}, Edge {verdict.edge}): " + (
        f"{len(failing)} gap(s)" if failing else "ready"
    )


def print_check(console: Console, report: CheckReport, quiet: bool = False) -> None:
    """Findings first (what to fix is what a reader came for), then the tables unless ``quiet``, then
    the verdict line."""
    if report.errors:
        print_findings(console, report.errors + report.contract_findings)
        console.print(Text(verdict_line(report), style="bold red"), soft_wrap=True)
        return
    for verdict in report.environments:
        if verdict.findings:
            console.print(Text(_state(verdict, report.strict), style="bold"), soft_wrap=True)
            print_findings(console, verdict.findings)
    if report.contract_findings:
        console.print(Text("across environments", style="bold"))
        print_findings(console, report.contract_findings)
    if not quiet:
        if any(v.findings for v in report.environments) or report.contract_findings:
            console.print()
        for verdict in report.environments:
            print_environment(console, verdict, report.strict)
        if report.contract_waived:
            heading(console, "across environments")
            print_waived(console, report.contract_waived)
    style = "bold red" if report.failing() else "bold green"
    console.print(Text(verdict_line(report), style=style), soft_wrap=True)
