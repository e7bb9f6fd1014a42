"""What can go wrong, as values: contract findings carry file, line, rule and the team that owns the fix."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Severity = Literal["error", "gap", "warning", "note"]


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int
    column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a contract: an error (invalid), a gap (not production-ready) or a warning."""

    rule: str
    message: str
    where: Location | None = None
    fix: str | None = None  # the team that owns the fix
    severity: Severity = "error"
    environment: str | None = None
    related: tuple[Location, ...] = field(default=())
    #: what a production gap is about (an entrypoint, a service, a team...): a waiver names it
    target: str | None = None

    def sort_key(self) -> tuple[str, int, str, str]:
        if self.where is None:
            return ("", 0, self.rule, self.message)
        return (self.where.file, self.where.line, self.rule, self.message)

    def render(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        suffix = f" (fix: {self.fix})" if self.fix else ""
        return f"{prefix}{self.rule}: {self.message}{suffix}"

    def with_severity(self, severity: Severity) -> Finding:
        return replace(self, severity=severity)


class FrontdoorError(Exception):
    """Base of every error frontdoor raises on purpose; the CLI prints it without a traceback."""


class UnknownEnvironment(FrontdoorError):
    pass
