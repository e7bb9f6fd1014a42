"""The command line: parse arguments, call the library, print. No decisions are made here.

``main`` is the entry point (``frontdoor = frontdoor.cli:main``); ``parser.py`` is the grammar, and the
commands are grouped by what they do: ``contract.py`` (check, who, diff, render, schema),
``processes.py`` (serve, authz, demo, idp, token) and ``verify.py`` (verify). A new command is a
function in one of those and a sub-parser in ``parser.py`` (with its ``--help`` entry in
frontdoor/clihelp.py).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from frontdoor.cli.parser import build_parser
from frontdoor.errors import FrontdoorError
from frontdoor.report.check import EXIT_INVALID

__all__ = ["build_parser", "main"]


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
