"""Prints the conformance matrix at the end of a run that ran it; with FRONTDOOR_MATRIX_DOC=PATH also
rewrites the generated part of that document (``make conformance-doc`` uses docs/conformance.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .report import RECORDED, legend, save, table, write_doc


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RECORDED:
        return
    rows = sorted(RECORDED, key=lambda r: r["order"])
    save(rows)
    terminalreporter.section("conformance matrix")
    terminalreporter.write_line(legend(rows))
    terminalreporter.write_line(table(rows))
    doc = os.environ.get("FRONTDOOR_MATRIX_DOC")
    if doc:
        write_doc(Path(doc), rows)
        terminalreporter.write_line(f"written into {doc}")
