"""Where the human output goes: rich on a terminal (its width, COLUMNS honoured), and plain unwrapped
lines off one, so that a CI log or a pipe into grep keeps each message on one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

#: off a terminal nothing is wrapped: a width no line of ours reaches
UNWRAPPED = 1_000_000
#: a heading's rule off a terminal, where the console's width means nothing
_RULE_WIDTH = 80


def _columns(environ: Mapping[str, str]) -> int | None:
    text = environ.get("COLUMNS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def make_console(
    file: TextIO | None = None,
    *,
    stderr: bool = False,
    terminal: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Console:
    """A console for ``file`` (standard output, or standard error with ``stderr``). ``terminal``
    overrides the detection (tests); ``environ`` is where COLUMNS is read (default: os.environ)."""
    environ = os.environ if environ is None else environ
    stream = file or (sys.stderr if stderr else sys.stdout)
    is_terminal = terminal if terminal is not None else stream.isatty()
    if is_terminal:
        return Console(file=stream, highlight=False, force_terminal=True, width=_columns(environ))
    return Console(file=stream, highlight=False, force_terminal=False, no_color=True, width=UNWRAPPED)


def heading(console: Console, title: Text | str) -> None:
    """A section's rule: the terminal's width on one, a fixed width off one."""
    if console.is_terminal:
        console.rule(title)
        return
    title = title if isinstance(title, Text) else Text(title)
    room = max(6, _RULE_WIDTH - len(title.plain) - 2)
    left = room // 2
    console.print(Text("─" * left + " ") + title + Text(" " + "─" * (room - left)), soft_wrap=True)


def print_table(console: Console, table: Table) -> None:
    """A table with its title on a line of its own: rich pads a title to the table's width, which
    leaves trailing spaces in a log."""
    title, table.title = table.title, None
    if title:
        console.print(Text(str(title), style=str(table.title_style or "")), soft_wrap=True)
    console.print(table)
