"""A loaded contract: every valid document by kind and name, with where each was written (Contract), and
what loading found (LoadResult).

Its own module so that the rules (contract/rules.py), the exposure check and everything downstream can
take a Contract without importing the loader, which in turn runs the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from frontdoor.contract.models import Edge, Environment, Service, Team
from frontdoor.contract.source import SourceDocument
from frontdoor.errors import Finding, Location


@dataclass(frozen=True, slots=True)
class DocumentHeader:
    """The envelope of a document of a known kind, valid or not: enough to check ownership (rule 1)."""

    kind: str
    name: str
    owner: str | None
    has_owner_field: bool
    environments: bool  # metadata.environments is set
    source: SourceDocument


@dataclass(frozen=True)
class Contract:
    """Every valid document of a contract, by kind and name, with where each was written."""

    root: Path
    teams: dict[str, Team] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    edges: dict[str, Edge] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    sources: dict[tuple[str, str], SourceDocument] = field(default_factory=dict)
    #: names of documents that exist but failed validation; rules skip them to avoid cascades
    invalid: frozenset[tuple[str, str]] = frozenset()
    headers: tuple[DocumentHeader, ...] = ()
    #: every document could at least be identified; if not, a missing name may be in the unreadable one
    complete: bool = True

    def locate(self, kind: str, name: str, *path: str | int) -> Location | None:
        source = self.sources.get((kind, name))
        return source.locate(tuple(path)) if source else None

    def declared(self, kind: str, name: str) -> bool:
        """The document exists, valid or not, or may exist in a file that could not be read."""
        return (kind, name) in self.sources or (kind, name) in self.invalid or not self.complete

    def promotion_order(self) -> list[str]:
        """Environments in promotion order (dev, test, prod), then by name."""

        def depth(name: str) -> int:
            seen: set[str] = set()
            current: str | None = name
            while current in self.environments and current not in seen:
                seen.add(current)
                current = self.environments[current].spec.promotes_from
            return len(seen)

        return sorted(self.environments, key=lambda n: (depth(n), n))

    def edges_for(self, environment: str) -> list[Edge]:
        return [edge for edge in self.edges.values() if edge.serves(environment)]

    def edge_for(self, environment: str) -> Edge | None:
        edges = self.edges_for(environment)
        return edges[0] if len(edges) == 1 else None


@dataclass
class LoadResult:
    contract: Contract
    findings: list[Finding]

    @property
    def valid(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)
