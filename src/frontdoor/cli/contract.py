"""The commands that read a contract and print: check, who, diff, render, schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from frontdoor.contract.load import LoadResult, load_contract
from frontdoor.errors import FrontdoorError
from frontdoor.report.check import EXIT_INVALID, CheckReport, run_check

if TYPE_CHECKING:
    from rich.console import Console


def _console() -> Console:
    # imported here: `serve` prints nothing with rich, and a worker need not hold it in memory
    from frontdoor.report.console import make_console

    return make_console()  # off a terminal (CI logs, pipes) nothing is wrapped


def _load_valid(directory: Path, console: Console, as_json: bool = False) -> LoadResult | None:
    from frontdoor.report.jsonout import finding_json
    from frontdoor.report.text import print_findings

    result = load_contract(directory)
    errors = [f for f in result.findings if f.severity == "error"]
    if errors and as_json:
        print(json.dumps({"valid": False, "errors": [finding_json(f) for f in errors]}, indent=_indent()))
        return None
    if errors:
        print_findings(console, errors)
        console.print(f"invalid: {len(errors)} error(s) in {directory}; run frontdoor check for the details")
        return None
    return result


def _indent() -> int | None:
    """Pretty JSON for a person, compact for a pipe: only compact JSON uses the fast C encoder."""
    return 2 if sys.stdout.isatty() else None


FORMATS = ("text", "json", "markdown", "github", "sarif", "junit")
RENDER_FORMATS = ("text", "github", "sarif", "junit")


def cmd_check(args: argparse.Namespace) -> int:
    report = run_check(Path(args.directory), args.env, args.strict)
    _print_report(report, args.format, args.quiet)
    return report.exit_code


def _print_report(report: CheckReport, form: str, quiet: bool = False) -> None:
    """``report`` in the chosen output format; the CI formats read it through report.outcome."""
    if form == "json":
        from frontdoor.report.jsonout import check_json

        print(json.dumps(check_json(report), indent=_indent()))
    elif form == "markdown":
        from frontdoor.report.markdown import check_markdown

        sys.stdout.write(check_markdown(report))
    elif form == "github":
        from frontdoor.report.github import github_annotations
        from frontdoor.report.outcome import outcome

        sys.stdout.write(github_annotations(outcome(report)))
    elif form == "sarif":
        from frontdoor.report.outcome import outcome
        from frontdoor.report.sarif import check_sarif

        print(json.dumps(check_sarif(outcome(report)), indent=_indent()))
    elif form == "junit":
        from frontdoor.report.junit import check_junit
        from frontdoor.report.outcome import outcome

        sys.stdout.write(check_junit(outcome(report)))
    else:
        from frontdoor.report.console import make_console
        from frontdoor.report.text import print_check

        print_check(make_console(), report, quiet)


def cmd_who(args: argparse.Namespace) -> int:
    from frontdoor.report.who import who

    console = _console()
    result = _load_valid(Path(args.directory), console, args.format == "json")
    if result is None:
        return EXIT_INVALID
    answer = who(result.contract, args.env, args.method, args.url)
    if args.format == "json":
        print(json.dumps(answer.json(), indent=_indent()))
        return 0 if answer.route else 1
    route = answer.route
    if route is None:
        allowed = f" (allowed: {', '.join(answer.allowed)})" if answer.allowed else ""
        console.print(f"no route: {answer.status} {answer.reason}{allowed}")
        return 1
    where = f" ({route.where})" if route.where else ""
    console.print(f"{answer.method} {answer.url}")
    console.print(f"  route      {route.methods} {route.path} on entrypoint {route.entrypoint}{where}")
    console.print(f"  service    {route.service}, upstreams {', '.join(route.upstreams) or 'none'}")
    console.print(
        f"  access     {route.access}" + (f" via {', '.join(route.providers)}" if route.providers else "")
    )
    console.print(f"  rate limit {route.rate_limit or 'none'}")
    console.print(f"  stop       {route.stop.describe()}  (platform team of the Edge)")
    console.print(f"  secure     {route.stop.describe()}  (platform team of the Edge)")
    console.print(f"  explain    {route.explain.describe()}  (app team of the Service)")
    console.print(f"  roll back  {route.rollback.describe()}  (delivery team of the Environment)")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from frontdoor.report.diff import diff_environments

    console = _console()
    if len(args.env) != 2:  # a usage error: standard error, exit 2, like argparse's own
        raise FrontdoorError("diff compares two environments: frontdoor diff DIR --env A --env B")
    result = _load_valid(Path(args.directory), console, args.format == "json")
    if result is None:
        return EXIT_INVALID
    first, second = args.env
    changes = diff_environments(result.contract, first, second)
    if args.format == "json":
        print(
            json.dumps(
                {"from": first, "to": second, "changes": [c.json() for c in changes]}, indent=_indent()
            )
        )
        return 1 if changes else 0
    if not changes:
        console.print(f"{first} and {second} expose and protect the same routes")
        return 0
    for change in changes:
        if change.before is None:
            console.print(f"+ {change.area} {change.subject}: {change.after}  (only in {second})")
        elif change.after is None:
            console.print(f"- {change.area} {change.subject}: {change.before}  (only in {first})")
        else:
            console.print(f"~ {change.area} {change.subject}: {change.before} -> {change.after}")
    return 1


def cmd_render(args: argparse.Namespace) -> int:
    from frontdoor.render import RenderOptions, render, target_caveats, write_files
    from frontdoor.render.gate import production_gaps, with_gap_comments
    from frontdoor.report.check import EXIT_GAPS

    directory = Path(args.directory)
    console = _console()
    result = _load_valid(directory, console)
    if result is None:
        return EXIT_INVALID
    options = RenderOptions(
        namespace=args.namespace,
        image=args.image,
        auth=args.auth,
        edge_namespace=args.edge_namespace,
        gateway_class=args.gateway_class,
        kafka_cluster=args.kafka_cluster,
        authz_url=args.authz_url,
        **({"authz_trusted": tuple(args.authz_trusted)} if args.authz_trusted else {}),
    )
    # rendered before the gate, in memory: a wrong target or environment is exit 2 whatever the gaps
    files = render(result.contract, args.env, args.target, options)
    report = run_check(directory, args.env)  # the same verdict as check: render is a gate too
    if report.errors:  # render() has checked the environment: never expected, never passed over
        raise FrontdoorError("; ".join(f.message for f in report.errors))
    gaps = production_gaps(report)
    if gaps and not args.allow_gaps:
        _print_report(report, args.format, quiet=True)
        print(
            f"frontdoor: nothing written to {args.out}: {args.env} is production and has "
            f"{len(gaps)} gap(s); close them, or render anyway with --allow-gaps",
            file=sys.stderr,
        )
        return EXIT_GAPS
    if gaps:
        files = with_gap_comments(files, args.env, gaps)
    out = Path(args.out)
    write_files(out, files)
    carried = f", each carrying {len(gaps)} gap(s) as comments" if gaps else ""
    print(
        f"rendered {len(files)} file(s) for {args.target}, environment {args.env}, into {out}{carried}",
        file=sys.stderr if args.format != "text" else sys.stdout,
    )
    for caveat in target_caveats(result.contract, args.env, args.target):
        print(f"frontdoor: note: {caveat}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from frontdoor.schema import contract_schema

    print(json.dumps(contract_schema(), indent=2))
    return 0
