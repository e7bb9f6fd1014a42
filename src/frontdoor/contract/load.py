"""From a directory of YAML to a validated Contract, collecting every problem instead of stopping."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from frontdoor.contract.models import (
    API_VERSION,
    MODEL_BY_KIND,
    Document,
    Edge,
    Environment,
    Service,
    Team,
)
from frontdoor.contract.ownership import misplaced_field
from frontdoor.contract.secrets import find_secret_literals
from frontdoor.contract.source import NAME, NodePath, SourceDocument, document_owner, read_tree
from frontdoor.contract.values import parse_route_path
from frontdoor.errors import Finding, Location

_FRIENDLY = {
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}


@dataclass(frozen=True, slots=True)
class Header:
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
    headers: tuple[Header, ...] = ()
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


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and (part.startswith(("function-", "[")) or part in MODEL_BY_KIND):
            continue  # pydantic's names for validators and union members mean nothing to a user
        else:
            text += f".{part}" if text else str(part)
    return text


def _clean_loc(loc: tuple[Any, ...]) -> NodePath:
    return tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "[")))


def _schema_findings(
    kind: str, exc: ValidationError, source: SourceDocument, fix: str | None, skip: set[NodePath]
) -> list[Finding]:
    findings = []
    errors = exc.errors(include_url=False, include_input=False)
    locs = [_clean_loc(tuple(e["loc"])) for e in errors]
    for error, loc in zip(errors, locs, strict=True):
        if any(path[: len(loc)] == loc or loc[: len(path)] == path for path in skip):
            continue  # the value holds a literal secret, reported on its own without repeating it
        if any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs):
            continue  # a deeper error explains this one ("at least 1 item" after every item failed)
        where = source.locate(loc)
        kind_of_error = error["type"]
        if kind_of_error == "extra_forbidden":
            rule, message = misplaced_field(kind, str(loc[-1]))
            message = f"{_dotted(loc)}: {message}" if rule == "unknown-field" else message
        elif kind_of_error == "missing":
            rule, message = "schema", f"{_dotted(loc)} is required"
        else:
            text = _FRIENDLY.get(kind_of_error) or str(error["msg"]).removeprefix("Value error, ")
            rule, message = "schema", f"{_dotted(loc)}: {text}" if loc else text
        findings.append(Finding(rule, message, where, fix))
    return findings


_WHERE_TO_PUT = {
    "Environment": "store it outside the contract and write env:VAR or file:/path here",
    None: "store it outside the contract, write secret:NAME here and map NAME in the Environment's "
    "secrets to env:VAR or file:/path",
}


def _header(source: SourceDocument) -> Header | None:
    data = source.data
    metadata, kind = data.get("metadata"), data.get("kind")
    if not isinstance(kind, str) or kind not in MODEL_BY_KIND or not isinstance(metadata, dict):
        return None
    name, owner = metadata.get("name"), metadata.get("owner")
    if not isinstance(name, str) or not NAME.match(name):
        return None  # the schema reports a bad name; never repeat a value that may be a secret
    owner = owner if isinstance(owner, str) and NAME.match(owner) else None
    return Header(kind, name, owner, "owner" in metadata, "environments" in metadata, source)


def _missing_access(source: SourceDocument, fix: str | None) -> Iterator[Finding]:
    """Rule 3 on the raw document, so that it is reported even when the Service has other errors."""
    spec = source.data.get("spec")
    routes = spec.get("routes") if isinstance(spec, dict) else None
    if not isinstance(routes, list):
        return
    for index, route in enumerate(routes):
        if isinstance(route, dict) and route.get("access") is None:
            yield Finding(
                "route-access",
                f"route {_route_name(route.get('path'), index)} declares no access: nothing defaults to "
                "public; write access: public, authenticated, or {scopes, claims, clients}",
                source.locate(("spec", "routes", index)),
                fix,
            )


def _route_name(path: object, index: int) -> str:
    """A route as a message names it: its path when that is one, else its place in the list. Never
    the raw value, which may be anything (a pasted secret, say)."""
    try:
        parse_route_path(path)
    except ValueError:
        return f"#{index + 1}"
    return str(path)


def _validate(source: SourceDocument) -> tuple[Document | None, list[Finding], tuple[str, str] | None]:
    data = source.data
    if not isinstance(data, dict):
        return (
            None,
            [
                Finding(
                    "document-shape",
                    "a document is a mapping with apiVersion, kind, metadata and spec",
                    source.locate(),
                )
            ],
            None,
        )
    kind = data.get("kind") if isinstance(data.get("kind"), str) else None
    fix = document_owner(data)
    findings: list[Finding] = []

    literal_paths: set[NodePath] = set()
    for path, what in find_secret_literals(data):
        literal_paths.add(path)
        advice = _WHERE_TO_PUT.get(kind) or _WHERE_TO_PUT[None]
        field_name = _dotted(path)
        findings.append(
            Finding("secret-literal", f"{field_name} holds {what}: {advice}", source.locate(path), fix)
        )

    if data.get("apiVersion") != API_VERSION:
        findings.append(
            Finding("api-version", f"apiVersion must be {API_VERSION}", source.locate(("apiVersion",)), fix)
        )
        return None, findings, None
    if kind not in MODEL_BY_KIND:
        findings.append(
            Finding(
                "document-kind",
                "kind must be one of Team, Service, Edge, Environment",
                source.locate(("kind",)),
                fix,
            )
        )
        return None, findings, None

    if kind == "Service":
        findings.extend(_missing_access(source, fix))
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    identity = (kind, name) if isinstance(name, str) else None
    try:
        document = MODEL_BY_KIND[kind].model_validate(data)
    except ValidationError as exc:
        findings.extend(_schema_findings(kind, exc, source, fix, literal_paths))
        return None, findings, identity
    return (None if findings else document), findings, identity


_UNREADABLE = frozenset({"yaml-syntax", "yaml-encoding", "yaml-too-large", "contract-read"})


def _is_api_description(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and "apiVersion" not in data
        and "kind" not in data
        and ("openapi" in data or "swagger" in data)
    )


def load_contract(root: Path) -> LoadResult:
    """Read, validate and cross-check the contract under ``root``; never raises for bad input."""
    from frontdoor.contract.rules import check_rules  # rules build on the loaded documents

    if not root.exists():
        return LoadResult(Contract(root), [Finding("contract-read", f"{root}: no such file or directory")])
    sources, findings = read_tree(root)
    # a file that could not be read or parsed may hold any document
    complete = not any(f.rule in _UNREADABLE for f in findings)
    if not sources and not findings:
        findings.append(Finding("contract-empty", f"{root}: no contract documents (*.yaml, *.yml) found"))

    by_kind: dict[str, dict[str, Any]] = {kind: {} for kind in MODEL_BY_KIND}
    located: dict[tuple[str, str], SourceDocument] = {}
    invalid: set[tuple[str, str]] = set()
    headers: list[Header] = []
    for source in sources:
        if _is_api_description(source.data):
            continue  # an OpenAPI file beside the Service that points at it (api.openapi)
        header = _header(source) if isinstance(source.data, dict) else None
        if header:
            headers.append(header)
        else:
            complete = False
        document, problems, identity = _validate(source)
        findings.extend(problems)
        if document is None:
            if identity:
                invalid.add(identity)
            continue
        key = (document.kind, document.name)  # type: ignore[attr-defined]
        if key in located:
            first = located[key].locate(("metadata", "name"))
            findings.append(
                Finding(
                    "duplicate-name",
                    f"{document.kind} {document.name} is already declared at {first}",  # type: ignore[attr-defined]
                    source.locate(("metadata", "name")),
                    document.owner,
                    related=(first,),
                )
            )
            continue
        located[key] = source
        by_kind[document.kind][document.name] = document  # type: ignore[attr-defined]

    contract = Contract(
        root=root,
        teams=by_kind["Team"],
        services=by_kind["Service"],
        edges=by_kind["Edge"],
        environments=by_kind["Environment"],
        sources=located,
        invalid=frozenset(invalid - set(located)),
        headers=tuple(headers),
        complete=complete,
    )
    findings.extend(check_rules(contract))
    findings.sort(key=Finding.sort_key)
    return LoadResult(contract, findings)


def load_valid_contract(root: Path) -> Contract:
    """The contract under ``root`` for a command that runs it (serve, authz): every error at once, as
    one FrontdoorError, rather than a partial contract."""
    from frontdoor.errors import FrontdoorError

    result = load_contract(root)
    errors = [f for f in result.findings if f.severity == "error"]
    if errors:
        raise FrontdoorError("the contract is invalid:\n" + "\n".join(f.render() for f in errors))
    return result.contract
