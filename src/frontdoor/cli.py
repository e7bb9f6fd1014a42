"""The command line: parse arguments, call the library, print. No decisions are made here."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from frontdoor import __version__
from frontdoor.contract.load import LoadResult, load_contract
from frontdoor.errors import FrontdoorError
from frontdoor.report.check import EXIT_INVALID, CheckReport, run_check

if TYPE_CHECKING:
    from rich.console import Console

    from frontdoor.plan import Plan


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


def cmd_serve(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from frontdoor.policy.admission import StageContext
    from frontdoor.proxy.server import check_servable, serve
    from frontdoor.proxy.workers import run_workers

    _gateway_logging()
    directory = Path(args.directory)
    plan = check_servable(directory, args.env)  # refuse a bad contract once, before any worker starts
    _log_local_split(plan, args.workers)
    access_log = None if args.access_log == "off" else _open_log(args.access_log)
    state_dir = _state_dir(args.state_dir)
    # this run's shared scratch (the workers' metric snapshots, the reload epoch): made before the
    # workers fork so they all see it, removed when they have all stopped
    run_dir = Path(tempfile.mkdtemp(prefix="frontdoor-run-"))
    try:
        return run_workers(
            args.workers,
            lambda: serve(
                directory,
                args.env,
                access_log,
                health_interval=args.health_interval,
                reuse_port=args.workers > 1,
                context=StageContext(workers=args.workers, state_dir=state_dir),
                run_dir=run_dir,
                watch=args.watch,
            ),
        )
    finally:  # workers leave through os._exit: only the parent (or the single process) gets here
        shutil.rmtree(run_dir, ignore_errors=True)


def _state_dir(given: str | None) -> Path:
    """``--state-dir``, or the default (frontdoor/statedir.py), made if missing."""
    from frontdoor.statedir import default_state_dir

    state_dir = Path(given) if given else default_state_dir()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrontdoorError(f"cannot use the state directory {state_dir}: {exc.strerror or exc}") from None
    return state_dir


def _log_local_split(plan: Plan, workers: int) -> None:
    """Said once, by the parent: local rate limits are divided among the workers."""
    import logging

    from frontdoor.protection import local_split_note

    note = local_split_note(plan, workers)
    if note is not None:
        logging.getLogger("frontdoor.protection").warning("%s", note)


def cmd_authz(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from frontdoor.authz.decide import LOOPBACK, chosen_entrypoints, parse_networks
    from frontdoor.authz.runtime import Settings
    from frontdoor.authz.service import run_authz
    from frontdoor.contract.values import parse_listen
    from frontdoor.policy.admission import StageContext
    from frontdoor.proxy.server import check_servable
    from frontdoor.proxy.workers import run_workers

    try:
        settings = Settings(
            listen=parse_listen(args.listen),
            dialect=args.dialect,
            path_prefix=args.path_prefix or "",
            trusted=parse_networks(args.trusted) if args.trusted else LOOPBACK,
            entrypoint=args.entrypoint,
            admin_listen=parse_listen(args.admin_listen) if args.admin_listen else None,
        )
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    _gateway_logging()
    directory = Path(args.directory)
    plan = check_servable(directory, args.env)  # refuse a bad contract once, before any worker starts
    try:
        chosen_entrypoints(plan, settings.entrypoint, settings.path_prefix)
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    _log_local_split(plan, args.workers)
    access_log = None if args.access_log == "off" else _open_log(args.access_log)
    state_dir = _state_dir(args.state_dir)
    # the workers' shared scratch (metric snapshots, the reload epoch), as for serve
    run_dir = Path(tempfile.mkdtemp(prefix="frontdoor-authz-"))
    try:
        return run_workers(
            args.workers,
            lambda: run_authz(
                directory,
                args.env,
                settings,
                access_log,
                reuse_port=args.workers > 1,
                context=StageContext(workers=args.workers, state_dir=state_dir),
                run_dir=run_dir,
            ),
        )
    finally:  # workers leave through os._exit: only the parent (or the single process) gets here
        shutil.rmtree(run_dir, ignore_errors=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from frontdoor.demo.run import run_demo

    _gateway_logging()
    return run_demo(
        Path(args.directory),
        args.env,
        None if args.access_log == "off" else _open_log(args.access_log),
        port_base=args.port_base,
    )


def cmd_token(args: argparse.Namespace) -> int:
    from frontdoor.contract.values import parse_duration
    from frontdoor.idp.running import running_issuer
    from frontdoor.idp.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER, mint, parse_claims

    try:
        ttl = parse_duration(args.ttl)
        claims = parse_claims(args.claim)
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    scopes = [scope for text in args.scope for scope in text.split()]
    # the running demo's (or idp's) issuer and audience, unless given: its printed commands then work
    # whatever port it runs on
    running = running_issuer()
    issuer = args.issuer or (running.issuer if running else DEFAULT_ISSUER)
    audiences = args.aud or (
        list(running.audiences[:1]) if running and running.issuer == issuer and running.audiences else []
    )
    print(
        mint(
            args.sub,
            scopes,
            claims,
            ttl,
            audiences or [DEFAULT_AUDIENCE],
            args.alg,
            issuer,
            args.scopes_claim,
        )
    )
    return 0


def cmd_idp(args: argparse.Namespace) -> int:
    import asyncio

    from frontdoor.contract.values import parse_listen
    from frontdoor.idp.issuer import start_issuer
    from frontdoor.idp.running import announce, withdraw
    from frontdoor.idp.tokens import DEFAULT_AUDIENCE

    try:
        listen = parse_listen(args.listen)
    except ValueError as exc:
        raise FrontdoorError(str(exc)) from None
    issuer = args.issuer or f"http://{listen}/"

    async def main() -> None:
        server = await start_issuer(issuer, listen.host, listen.port)
        announce(issuer, args.aud or [DEFAULT_AUDIENCE])  # frontdoor token signs for it by itself
        print(f"local identity provider {issuer} on {listen} (discovery and /keys)", file=sys.stderr)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except OSError as exc:
        raise FrontdoorError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    finally:
        withdraw(issuer)
    return 0


def _gateway_logging() -> None:
    import logging

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # until the gateway is up; then it freezes what it built (server.py)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _open_log(target: str) -> TextIO:
    if target == "-":
        return sys.stdout
    return open(target, "a", encoding="utf-8", buffering=1)


def cmd_render(args: argparse.Namespace) -> int:
    from frontdoor.render import RenderOptions, render, write_files
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
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from frontdoor.schema import contract_schema

    print(json.dumps(contract_schema(), indent=2))
    return 0


STATE_DIR_HELP = (
    "where stops and the audit log are kept, per Edge and environment (default: $FRONTDOOR_STATE_DIR, "
    "else $XDG_STATE_HOME/frontdoor or ~/.local/state/frontdoor); with rate_limits.store: redis the "
    "stops are kept in Redis and this directory keeps the last ones read"
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more seconds")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range 1-65535")
    return value


DIR_HELP = "the contract directory (its *.yaml files, subdirectories included)"
ENV_HELP = "the environment (an Environment document's name), e.g. prod"
LOG_HELP = 'the access log: a file to append to, "-" for standard output, or "off"'


def build_parser() -> argparse.ArgumentParser:
    from frontdoor.clihelp import about

    parser = argparse.ArgumentParser(
        prog="frontdoor",
        description="Production as a contract between teams. `frontdoor COMMAND --help` describes each "
        "command, its exit codes and an example; the README links every doc page.",
    )
    parser.add_argument("--version", action="version", version=f"frontdoor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check", **about("check", "validate the contract and give the production verdict")
    )
    check.add_argument("directory", metavar="DIR", help=DIR_HELP)
    check.add_argument(
        "--env",
        action="append",
        metavar="ENV",
        help="check only this environment; repeat it for several (the exit code is the worst of them; "
        "default: every one, in promotion order)",
    )
    check.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (for people: gaps first, then the tables), json (docs/check-json.md), markdown (a pull "
        "request comment), github (workflow annotations), sarif (SARIF 2.1.0 for code scanning) or "
        "junit (JUnit XML for test reports)",
    )
    check.add_argument(
        "--quiet", "-q", action="store_true", help="text: only the findings and the verdict line, no tables"
    )
    check.add_argument(
        "--strict", action="store_true", help="warnings in non-production environments fail too"
    )
    check.set_defaults(handler=cmd_check)

    who = commands.add_parser("who", **about("who", "which route a request takes, and who owns it"))
    who.add_argument("directory", metavar="DIR", help=DIR_HELP)
    who.add_argument("--env", required=True, help=ENV_HELP)
    who.add_argument(
        "--format", choices=("text", "json"), default="text", help="text, or json (docs/check-json.md)"
    )
    who.add_argument("method", metavar="METHOD", help="the request's method, e.g. GET")
    who.add_argument(
        "url",
        metavar="URL",
        help="the request's URL; its host and port choose the entrypoint, e.g. "
        "https://shop.example.com/orders/42 (a bare /path is asked of every entrypoint)",
    )
    who.set_defaults(handler=cmd_who)

    diff = commands.add_parser(
        "diff", **about("diff", "how two environments differ in exposure and protection")
    )
    diff.add_argument("directory", metavar="DIR", help=DIR_HELP)
    diff.add_argument(
        "--env", action="append", default=[], required=True, help="give it twice: --env A --env B"
    )
    diff.add_argument(
        "--format", choices=("text", "json"), default="text", help="text, or json (docs/check-json.md)"
    )
    diff.set_defaults(handler=cmd_diff)

    serve = commands.add_parser("serve", **about("serve", "run the gateway for one environment"))
    serve.add_argument("directory", metavar="DIR", help=DIR_HELP)
    serve.add_argument("--env", required=True, help=ENV_HELP)
    serve.add_argument("--access-log", default="-", metavar="PATH", help=LOG_HELP)
    serve.add_argument(
        "--workers", type=_positive_int, default=1, metavar="N", help="processes sharing the listeners"
    )
    serve.add_argument(
        "--state-dir",
        metavar="DIR",
        help=STATE_DIR_HELP,
    )
    serve.add_argument(
        "--no-watch",
        dest="watch",
        action="store_false",
        help="do not reload on edits of the contract directory (SIGHUP and POST /admin/reload still do)",
    )
    serve.add_argument(
        "--health-interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="active health checks of every endpoint; 0 turns them off",
    )
    serve.set_defaults(handler=cmd_serve)

    authz = commands.add_parser(
        "authz",
        **about(
            "authz",
            "answer an ingress's auth checks (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz)",
            "The same decisions as serve, as an external auth service.",
        ),
    )
    authz.add_argument("directory", metavar="DIR", help=DIR_HELP)
    authz.add_argument("--env", required=True, help=ENV_HELP)
    authz.add_argument("--listen", required=True, metavar="ADDR", help="host:port of the check listener")
    authz.add_argument(
        "--dialect",
        choices=("auto", "nginx", "traefik", "envoy"),
        default="auto",
        help="how check requests describe the original request; auto: X-Original-* is nginx, "
        "X-Forwarded-Uri is Traefik, neither is Envoy (pin it in production)",
    )
    authz.add_argument(
        "--path-prefix", metavar="P", help="Envoy's path_prefix, removed from the check path (e.g. /auth)"
    )
    authz.add_argument(
        "--trusted",
        action="append",
        metavar="CIDR",
        help="peers allowed to ask (the ingress); repeatable; default loopback only",
    )
    authz.add_argument("--entrypoint", metavar="NAME", help="only this entrypoint's routes (default: all)")
    authz.add_argument(
        "--workers", type=_positive_int, default=1, metavar="N", help="processes sharing the listener"
    )
    authz.add_argument("--access-log", default="-", metavar="PATH", help=LOG_HELP)
    authz.add_argument("--state-dir", metavar="DIR", help=STATE_DIR_HELP)
    authz.add_argument(
        "--admin-listen",
        metavar="ADDR",
        help="host:port of the admin listener instead of the Edge's admin.listen (e.g. 0.0.0.0:9901 in a "
        "pod); the admin API runs only when the Edge declares admin",
    )
    authz.set_defaults(handler=cmd_authz)

    demo = commands.add_parser("demo", **about("demo", "the example contract's dev environment on localhost"))
    demo.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        default="examples/shop",
        help="the contract (default examples/shop)",
    )
    demo.add_argument("--env", default="dev", help="a non-production environment on loopback (default dev)")
    demo.add_argument("--access-log", default="-", metavar="PATH", help=LOG_HELP)
    demo.add_argument(
        "--port-base",
        type=_port,
        metavar="N",
        help="move every loopback port the environment uses to N, N+1, ...: the gateway's entrypoints, "
        "then the admin listener, the local identity providers and the upstreams "
        "(default: the ports the contract names)",
    )
    demo.set_defaults(handler=cmd_demo)

    render = commands.add_parser(
        "render",
        **about(
            "render",
            "manifests for an existing platform: Kubernetes (gateway-api, ingress-nginx, traefik) or nginx",
        ),
    )
    render.add_argument("directory", metavar="DIR", help=DIR_HELP)
    render.add_argument("--env", required=True, help=ENV_HELP)
    render.add_argument(
        "--target", required=True, metavar="TARGET", help="gateway-api, ingress-nginx, traefik or nginx"
    )
    render.add_argument(
        "--out", required=True, metavar="OUT", help="directory to write (replaced if rendered)"
    )
    render.add_argument(
        "--allow-gaps",
        action="store_true",
        help="render a production environment that has gaps anyway; each file then starts with the gaps "
        "as comments",
    )
    render.add_argument(
        "--format",
        choices=RENDER_FORMATS,
        default="text",
        help="how the gaps are printed when they stop the render: text, github, sarif or junit (as check)",
    )
    render.add_argument(
        "--auth",
        choices=("native", "external"),
        help="gateway-api: Envoy Gateway checks JWTs itself (native, the default) or asks frontdoor authz "
        "(external); the other targets always ask frontdoor authz",
    )
    render.add_argument("--namespace", default="frontdoor", help="Kubernetes namespace of the objects")
    render.add_argument("--image", default=f"frontdoor:{__version__}", help="image that runs frontdoor authz")
    render.add_argument(
        "--edge-namespace",
        help="namespace of the edge controller's proxies (default: the target's usual one)",
    )
    render.add_argument("--gateway-class", default="eg", help="gateway-api: the GatewayClass of the Gateways")
    render.add_argument(
        "--kafka-cluster", default="kafka", help="Strimzi: the Kafka cluster of topics and users"
    )
    render.add_argument(
        "--authz-url", default="http://127.0.0.1:9191", help="nginx: where frontdoor authz listens on the VM"
    )
    render.add_argument(
        "--authz-trusted",
        action="append",
        metavar="CIDR",
        help="Kubernetes: networks the authz believes (its --trusted); repeat it. Default: the private "
        "ranges, with a NetworkPolicy that admits only the edge's proxies",
    )
    render.set_defaults(handler=cmd_render)

    token = commands.add_parser(
        "token",
        **about(
            "token",
            "print a token from the local identity provider (development only)",
            "Signs with the keys of the local identity provider that `frontdoor demo` and `frontdoor idp` "
            "serve; keys live in $FRONTDOOR_STATE_DIR, else $XDG_STATE_HOME/frontdoor. The issuer is the "
            "one the running demo (or idp) wrote there, unless --issuer names another.",
        ),
    )
    token.add_argument("--sub", required=True, help="the subject (sub claim)")
    token.add_argument(
        "--scope", action="append", default=[], help='space-separated scopes, e.g. "orders:read orders:write"'
    )
    token.add_argument(
        "--claim", action="append", default=[], metavar="NAME=VALUE", help="an extra claim; JSON values ok"
    )
    token.add_argument("--ttl", default="1h", help="lifetime, e.g. 90s, 15m, 1h (default 1h)")
    token.add_argument("--aud", action="append", help="audience; repeatable (default shop-api)")
    token.add_argument("--alg", choices=("RS256", "ES256"), default="RS256", help="the signing algorithm")
    token.add_argument(
        "--issuer",
        help="the iss claim (default: the issuer of the running demo or idp, else http://127.0.0.1:9400/)",
    )
    token.add_argument(
        "--scopes-claim", choices=("scope", "scp"), default="scope", help="scope (string) or scp (list)"
    )
    token.set_defaults(handler=cmd_token)

    idp = commands.add_parser(
        "idp", **about("idp", "run the local identity provider alone (discovery and JWKS)")
    )
    idp.add_argument(
        "--listen",
        default="127.0.0.1:9400",
        metavar="ADDR",
        help="host:port to serve on (default 127.0.0.1:9400)",
    )
    idp.add_argument("--issuer", help="the issuer URL (default http://ADDR/)")
    idp.add_argument(
        "--aud",
        action="append",
        help="audience of the tokens frontdoor token mints while this runs (default shop-api)",
    )
    idp.set_defaults(handler=cmd_idp)

    schema = commands.add_parser("schema", **about("schema", "the JSON Schema of contract documents"))
    schema.set_defaults(handler=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A command's objects live until it exits: collecting them repeatedly is wasted work (a third of
    # `check` on a large contract). Long-running commands (serve) set their own policy.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except FrontdoorError as exc:
        _fail(str(exc))
        return EXIT_INVALID
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a file or socket the command needed and did not get: one line, exit 2
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")
        return EXIT_INVALID
    except Exception as exc:  # a bug: still one line and exit 2 (never 1, which CI reads as "gaps")
        if os.environ.get("FRONTDOOR_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (FRONTDOOR_DEBUG=1 shows where)")
        return EXIT_INVALID


def _fail(message: str) -> None:
    # plain print: rich would read "[" in a URL as markup and wrap the line at 80 columns
    print(f"frontdoor: {message}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
