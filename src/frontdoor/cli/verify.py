"""``frontdoor verify``: is the running edge honouring the contract? Arguments in, report out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from frontdoor.cli.argtypes import positive_float as _positive_float
from frontdoor.cli.argtypes import positive_int as _positive_int

DEFAULT_RATE = 5.0
DEFAULT_BUDGET = 500


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], dir_help: str) -> None:
    from frontdoor.clihelp import about
    from frontdoor.verify.output import FORMATS

    verify = commands.add_parser(
        "verify",
        **about(
            "verify",
            "probe a running edge and report where it does not do what the contract says",
            "Black-box: GET and HEAD only unless --allow-writes, at most --rate requests a second and "
            "--budget in all, each marked by its User-Agent (frontdoor-verify/...) and an X-Request-Id "
            "starting with frontdoor-verify-.",
        ),
    )
    verify.add_argument("directory", metavar="DIR", help=dir_help)
    verify.add_argument("--env", required=True, help="the environment the edge serves, e.g. test")
    verify.add_argument(
        "--base-url",
        required=True,
        metavar="URL",
        help="where the edge answers, e.g. https://shop.example.com",
    )
    verify.add_argument(
        "--host", metavar="H", help="the Host (and TLS server name) to send, when the URL names an address"
    )
    verify.add_argument(
        "--entrypoint",
        metavar="NAME",
        help="the entrypoint the URL reaches (default: the only one, else the one on the URL's port or host)",
    )
    token = verify.add_mutually_exclusive_group()
    token.add_argument(
        "--token",
        metavar="CMD",
        help="a command that prints a bearer token (run without a shell): the routes its scopes and claims "
        "allow must answer, the others 403",
    )
    token.add_argument("--token-file", metavar="F", help="a file holding a bearer token (as --token)")
    verify.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="CLIENT=KEY",
        help="an API client's key: the routes listing the client must answer, the others 403; repeatable",
    )
    verify.add_argument(
        "--rate",
        type=_positive_float,
        default=DEFAULT_RATE,
        metavar="N",
        help=f"at most N requests a second (default {DEFAULT_RATE:g})",
    )
    verify.add_argument(
        "--budget",
        type=_positive_int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help=f"at most N requests in all; a plan needing more is refused (default {DEFAULT_BUDGET})",
    )
    verify.add_argument(
        "--allow-writes",
        action="store_true",
        help="also send the routes' write methods (with an empty body, without credentials) to check "
        "they are refused",
    )
    verify.add_argument(
        "--burst",
        action="store_true",
        help="also reach each rate limit on purpose (faster than --rate, within --budget) and expect 429 "
        "with Retry-After; never by default",
    )
    verify.add_argument(
        "--admin-token-file",
        metavar="F",
        help="a file holding the admin API's token: the stops in force are read (GET /admin/routes, never "
        "changed) and a stopped route must answer 503 naming its owner",
    )
    verify.add_argument(
        "--admin-url",
        metavar="URL",
        help="where the admin API answers (default: the Edge's admin.listen), e.g. http://10.0.0.5:9901",
    )
    verify.add_argument("--cacert", metavar="FILE", help="CA certificates to trust (default: the system's)")
    verify.add_argument(
        "--cert",
        metavar="FILE",
        help="a client certificate (PEM) of one of the Edge's certificate API clients, for an entrypoint "
        "with tls.client_auth: the routes listing the client must answer, the others 403 (with --key)",
    )
    verify.add_argument("--key", metavar="FILE", help="the private key of --cert (PEM)")
    verify.add_argument(
        "--timeout", type=_positive_float, default=10.0, metavar="SECONDS", help="per request (default 10)"
    )
    verify.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text, json, github (workflow annotations), sarif or junit (as check)",
    )
    verify.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from frontdoor.verify.output import render
    from frontdoor.verify.run import VerifyOptions, verify

    report = verify(
        VerifyOptions(
            directory=Path(args.directory),
            environment=args.env,
            base_url=args.base_url,
            host=args.host,
            entrypoint=args.entrypoint,
            token_command=args.token,
            token_file=args.token_file,
            api_keys=tuple(args.api_key),
            rate=args.rate,
            budget=args.budget,
            allow_writes=args.allow_writes,
            cacert=args.cacert,
            timeout=args.timeout,
            admin_token_file=args.admin_token_file,
            admin_url=args.admin_url,
            burst=args.burst,
            cert=args.cert,
            key=args.key,
        )
    )
    sys.stdout.write(render(report, args.format, 2 if sys.stdout.isatty() else None))
    return report.exit_code
