"""How a cell is judged: the differences from the reference decision (reference.py), and whether an
exception, a pending entry or an open difference (allowances.py) excuses them."""

from __future__ import annotations

from dataclasses import dataclass

from .allowances import EXCEPTIONS, OPEN_DIFFERENCES, PENDING_ON_OTHER_BRANCHES, Exception_
from .cases import Row
from .outcome import Outcome
from .reference import Reference, differences


@dataclass
class Cell:
    outcome: Outcome
    differs: list[str]  # the aspects that differ from the reference
    excused: list[str]  # the names of the exceptions that excuse them
    pending: str | None  # the reason, when the row and mode are pending (or open)
    open: bool = False  # pending is an open difference (UNASSIGNED), not work on another branch

    @property
    def failed(self) -> bool:
        return bool(self.unexcused)

    @property
    def unexcused(self) -> list[str]:
        return [a for a in self.differs if not any(e.aspect == a for e in self._excusing())]

    def _excusing(self) -> list[Exception_]:
        return [e for e in EXCEPTIONS if e.name in self.excused]

    @property
    def symbol(self) -> str:
        if self.pending is not None:  # a pending or open cell that passes must leave its list
            return ("⚑" if self.open else "⧗") if self.failed else "✗"
        if self.failed:
            return "✗"
        return "≈" if self.excused else "✓"

    @property
    def text(self) -> str:
        """The status (and kind), the symbol, and what differs when anything does."""
        aspects = [a for a in self.differs if a != "status"]
        return f"{self.outcome.cell()} {self.symbol}" + (f" ({', '.join(aspects)})" if aspects else "")


def judge(row: Row, mode: str, ref: Reference, got: Outcome) -> Cell:
    differs = differences(mode, ref, got)
    excused = [
        e.name for e in EXCEPTIONS if mode in e.modes and e.aspect in differs and e.excuses(row, ref, got)
    ]
    key = (row.name, mode)
    if key in OPEN_DIFFERENCES:
        return Cell(got, differs, excused, OPEN_DIFFERENCES[key], open=True)
    return Cell(got, differs, excused, PENDING_ON_OTHER_BRANCHES.get(key))
