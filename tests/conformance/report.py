"""The matrix as a Markdown table (rows = requests, columns = modes, cells = status and deny kind with
✓ equal to the required decision, ≈ a documented exception, ⧗ pending on another branch, ⚑ an open
difference without an owner, ✗ a difference that fails the run), printed at the end of the run and written into docs/conformance.md.

``python -m tests.conformance.report`` prints the last run's table (from RESULTS_FILE)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .allowances import EXCEPTIONS, PENDING, UNASSIGNED, Pending
from .reference import MODES

RESULTS_FILE = Path(".pytest_cache") / "conformance-matrix.json"
BEGIN, END = "<!-- matrix: begin -->", "<!-- matrix: end -->"

#: rows recorded by the test run: one dict per row
RECORDED: list[dict[str, Any]] = []


def record(row: dict[str, Any]) -> None:
    RECORDED.append(row)


def table(rows: list[dict[str, Any]]) -> str:
    header = "| # | request | required | " + " | ".join(MODES) + " |"
    lines = [header, "|" + "---|" * (len(MODES) + 3)]
    for number, row in enumerate(rows, 1):
        request = f"`{row['method']} {row['host']}{row['path']}`"
        cells = [row["cells"].get(mode, "") for mode in MODES]
        lines.append(
            f"| {number} | {row['name']}: {request} | {row['required']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def legend(rows: list[dict[str, Any]]) -> str:
    counts = {symbol: sum(symbol in c for r in rows for c in r["cells"].values()) for symbol in "✓≈⧗⚑✗"}
    return (
        f"{len(rows)} requests through {len(MODES)} modes: {counts['✓']} ✓ equal, "
        f"{counts['≈']} ≈ documented exception, {counts['⧗']} ⧗ pending on another branch, "
        f"{counts['⚑']} ⚑ open difference, {counts['✗']} ✗ different"
    )


def exceptions() -> str:
    lines = ["| exception | modes | aspect | why the target cannot express it |", "|---|---|---|---|"]
    for e in EXCEPTIONS:
        lines.append(f"| {e.name} | {', '.join(e.modes)} | {e.aspect} | {e.reason} |")
    return "\n".join(lines)


def grouped(entries: tuple[Pending, ...]) -> str:
    if not entries:
        return "(none)"
    lines = ["| why | modes | requests |", "|---|---|---|"]
    for entry in entries:
        lines.append(f"| {entry.reason} | {', '.join(entry.modes)} | {'; '.join(entry.rows)} |")
    return "\n".join(lines)


def document(rows: list[dict[str, Any]]) -> str:
    return "\n\n".join(
        [
            BEGIN,
            legend(rows),
            table(rows),
            "### Exceptions: what a target cannot express",
            exceptions(),
            "### Pending on other branches (`PENDING_ON_OTHER_BRANCHES`)",
            grouped(PENDING),
            "### Open differences, without an owner yet (`OPEN_DIFFERENCES`)",
            grouped(UNASSIGNED),
            END,
        ]
    )


def write_doc(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace the generated part of ``path`` (between the markers) with this run's matrix."""
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*" + re.escape(END), re.DOTALL)
    path.write_text(pattern.sub(lambda _m: document(rows), text))


def save(rows: list[dict[str, Any]]) -> None:
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(rows, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    saved = json.loads(RESULTS_FILE.read_text())
    print(legend(saved))
    print(table(saved))
