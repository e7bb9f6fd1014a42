"""From a directory of YAML to a validated Contract, collecting every problem instead of stopping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

# Contract and LoadResult are re-exported: what loading returns is imported from here by most callers
from frontdoor.contract.loaded import Contract as Contract  # noqa: PLC0414
from frontdoor.contract.loaded import DocumentHeader
from frontdoor.contract.loaded import LoadResult as LoadResult  # noqa: PLC0414
from frontdoor.contract.messages import (
    dotted,
    envelope_finding,
    first_rules_first,
    schema_findings,
)
from frontdoor.contract.models import (
    API_VERSION,
    MODEL_BY_KIND,
    Document,
)
from frontdoor.contract.rules import check_rules
from frontdoor.contract.secrets import find_secret_literals
from frontdoor.contract.source import NAME, NodePath, SourceDocument, document_owner, read_tree
from frontdoor.contract.values import parse_route_path
from frontdoor.errors import Finding

_WHERE_TO_PUT = {
    "Environment": "store it outside the contract and write env:VAR or file:/path here",
    None: "store it outside the contract, write secret:NAME here and map NAME in the Environment's "
    "secrets to env:VAR or file:/path",
}


def _header(source: SourceDocument) -> DocumentHeader | None:
    data = source.data
    metadata, kind = data.get("metadata"), data.get("kind")
    if not isinstance(kind, str) or kind not in MODEL_BY_KIND or not isinstance(metadata, dict):
        return None
    name, owner = metadata.get("name"), metadata.get("owner")
    if not isinstance(name, str) or not NAME.match(name):
        return None  # the schema reports a bad name; never repeat a value that may be a secret
    owner = owner if isinstance(owner, str) and NAME.match(owner) else None
    return DocumentHeader(kind, name, owner, "owner" in metadata, "environments" in metadata, source)


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
        field_name = dotted(path)
        findings.append(
            Finding("secret-literal", f"{field_name} holds {what}: {advice}", source.locate(path), fix)
        )

    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    # a document of a known kind and name that fails is still declared: references to it are not
    # reported again as unknown (the one real problem is reported first, see FIRST_RULES)
    identity = (kind, name) if kind in MODEL_BY_KIND and isinstance(name, str) else None
    if data.get("apiVersion") != API_VERSION:
        findings.append(envelope_finding("apiVersion", data.get("apiVersion"), source, fix))
        return None, findings, identity
    if kind not in MODEL_BY_KIND:
        findings.append(envelope_finding("kind", data.get("kind"), source, fix))
        return None, findings, None

    if kind == "Service":
        findings.extend(_missing_access(source, fix))
    try:
        document = MODEL_BY_KIND[kind].model_validate(data)
    except ValidationError as exc:
        findings.extend(schema_findings(kind, exc, source, fix, literal_paths))
        return None, findings, identity
    return (None if findings else document), findings, identity


_UNREADABLE = frozenset(
    {
        "yaml-syntax",
        "yaml-encoding",
        "yaml-too-large",
        "contract-read",
        "contract-not-a-file",
        "contract-too-large",
    }
)


def _is_api_description(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and "apiVersion" not in data
        and "kind" not in data
        and ("openapi" in data or "swagger" in data)
    )


def load_contract(root: Path) -> LoadResult:
    """Read, validate and cross-check the contract under ``root``; never raises for bad input."""

    sources, findings = read_tree(root)
    if not sources and any(f.rule == "contract-read" and f.where is None for f in findings):
        return LoadResult(Contract(root), findings)  # the root itself cannot be read
    # a file that could not be read or parsed may hold any document
    complete = not any(f.rule in _UNREADABLE for f in findings)
    if not sources and not findings:
        findings.append(Finding("contract-empty", f"{root}: no contract documents (*.yaml, *.yml) found"))

    by_kind: dict[str, dict[str, Any]] = {kind: {} for kind in MODEL_BY_KIND}
    located: dict[tuple[str, str], SourceDocument] = {}
    invalid: set[tuple[str, str]] = set()
    headers: list[DocumentHeader] = []
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
    findings.sort(key=first_rules_first)
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
