"""Help that teaches: every argument of every command is described, and each command's --help ends
with its exit codes, one example that parses, and a doc page that exists."""

from __future__ import annotations

import argparse
import shlex

import pytest

from frontdoor.cli import build_parser, main
from frontdoor.clihelp import COMMANDS

from .conftest import ROOT


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_argument_of_every_command_has_help() -> None:
    parsers = {"frontdoor": build_parser(), **_commands()}
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in parsers.items()
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert not missing, f"arguments without help: {missing}"


def test_every_command_has_an_entry() -> None:
    assert set(_commands()) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_exit_codes_example_and_doc(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0
    about = COMMANDS[command]
    assert "exit codes:\n  0 " in out and "\n  2 " in out
    assert f"example:\n  {about.example}\n" in out
    page, _, anchor = about.doc.partition("#")
    assert f"documentation: {about.doc}" in out and (ROOT / page).is_file()
    if anchor:  # the anchor is a heading of that page (GitHub's slugs: lower case, spaces to dashes)
        headings = [
            line.lstrip("#").strip().lower() for line in (ROOT / page).read_text().splitlines()
            if line.startswith("#")
        ]  # fmt: skip
        slugs = {"".join(c for c in h.replace(" ", "-") if c.isalnum() or c in "-_") for h in headings}
        assert anchor in slugs, (anchor, sorted(slugs))
    words = shlex.split(about.example.partition(" > ")[0])  # without a shell redirection
    while "=" in words[0]:  # VAR=value prefixes
        words.pop(0)
    assert words[0] == "frontdoor" and words[1] == command
    build_parser().parse_args(words[1:])  # the example is a valid command line
