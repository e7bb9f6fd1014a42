"""What each command's ``--help`` teaches beyond its arguments: exit codes, one example, its doc page.

Kept apart from the parser so that cli.py stays about arguments and dispatch; tests/test_cli_help.py
checks that every command has an entry and that every example parses.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

#: the exit code every command shares; 1 means something different per command
EXIT_USAGE = "2 usage error or any other failure (one line on standard error)"
EXIT_INVALID = "2 invalid contract, usage error or any other failure (one line on standard error)"


@dataclass(frozen=True)
class CommandHelp:
    exits: tuple[str, ...]
    example: str
    doc: str  # a path relative to the repository root, as README links it

    def epilog(self) -> str:
        lines = ["exit codes:"]
        lines += [f"  {code}" for code in self.exits]
        lines += ["", "example:", f"  {self.example}", "", f"documentation: {self.doc}"]
        return "\n".join(lines)


COMMANDS: dict[str, CommandHelp] = {
    "check": CommandHelp(
        (
            "0 ready: every production check passes",
            "1 gaps to close (or warnings, with --strict)",
            EXIT_INVALID,
        ),
        "frontdoor check examples/shop --env prod --format github",
        "docs/cli.md#check",
    ),
    "who": CommandHelp(
        ("0 a route matches", "1 no route (404, 405, or a path the gateway refuses)", EXIT_INVALID),
        "frontdoor who examples/shop --env prod GET https://shop.example.com/orders/42",
        "docs/cli.md#who",
    ),
    "diff": CommandHelp(
        ("0 the two environments are the same", "1 they differ", EXIT_INVALID),
        "frontdoor diff examples/shop --env test --env prod",
        "docs/cli.md#diff",
    ),
    "serve": CommandHelp(
        ("0 stopped after a drain (SIGTERM or Ctrl-C)", EXIT_INVALID),
        "FRONTDOOR_ADMIN_TOKEN=change-me frontdoor serve examples/shop --env dev",
        "docs/gateway.md",
    ),
    "authz": CommandHelp(
        ("0 stopped after a drain (SIGTERM or Ctrl-C)", EXIT_INVALID),
        "frontdoor authz examples/shop --env dev --listen 127.0.0.1:9000 --dialect nginx",
        "docs/authz.md",
    ),
    "demo": CommandHelp(
        ("0 stopped (Ctrl-C)", EXIT_INVALID),
        "frontdoor demo examples/shop --port-base 18000",
        "docs/cli.md#demo",
    ),
    "render": CommandHelp(
        (
            "0 rendered",
            "1 a production environment has gaps: nothing written (--allow-gaps writes them as comments)",
            EXIT_INVALID,
        ),
        "frontdoor render examples/shop --env prod --target gateway-api --out deploy/prod",
        "docs/render.md",
    ),
    "token": CommandHelp(
        ("0 the token is on standard output", EXIT_USAGE),
        'frontdoor token --sub alice --scope "orders:read orders:write"',
        "docs/authz.md#tokens-for-trying-it-the-local-identity-provider",
    ),
    "idp": CommandHelp(
        ("0 stopped (Ctrl-C)", EXIT_USAGE),
        "frontdoor idp --listen 127.0.0.1:9400",
        "docs/authz.md#tokens-for-trying-it-the-local-identity-provider",
    ),
    "verify": CommandHelp(
        (
            "0 honoured: every probe got what the contract says",
            "1 drift: the live edge does not do what the contract says (each finding names the route, "
            "its clause and the team that owns the fix)",
            "2 invalid contract, usage error, unreachable edge or any other failure",
        ),
        "frontdoor verify examples/shop --env dev --base-url http://127.0.0.1:8080",
        "docs/verify.md",
    ),
    "schema": CommandHelp(
        ("0 the schema is on standard output", EXIT_USAGE),
        "frontdoor schema > frontdoor.schema.json",
        "docs/contract.md",
    ),
}


def about(command: str, help: str, description: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``add_parser`` for ``command``: its one-line help, its description and
    the epilog, laid out as written (the default formatter would join the epilog's lines)."""
    return {
        "help": help,
        "description": description or help[0].upper() + help[1:] + ".",
        "epilog": COMMANDS[command].epilog(),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
