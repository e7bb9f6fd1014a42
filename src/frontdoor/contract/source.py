"""Reading contract YAML with a file and line for every node.

PyYAML's composer (libyaml when available) gives nodes with positions; we build plain Python values
from them ourselves so that we can keep a map from each node's path to its line, refuse duplicate keys
(YAML 1.2 requires unique keys; PyYAML silently keeps the last one) and bound alias expansion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from frontdoor.contract.tree import read_text, scan_tree
from frontdoor.errors import Finding, Location

NodePath = tuple[str | int, ...]
_STR_TAG = "tag:yaml.org,2002:str"

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAX_NODES = 2_000_000  # an alias bomb expands to far more than any real contract holds
_MAX_DEPTH = 64
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # metadata names, as in models.NAME_PATTERN


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One YAML document: its plain data and where each node of it was written."""

    file: str
    index: int  # 0-based position in its file
    data: Any
    lines: dict[NodePath, int]

    def line_of(self, path: NodePath) -> int:
        """The line of ``path``, or of its nearest written ancestor (for a field that is missing)."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def locate(self, path: NodePath = ()) -> Location:
        return Location(self.file, self.line_of(path))


class _TooLarge(Exception):
    pass


class _Builder:
    """Turns a composed node tree into plain values and a path -> line map."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()
        self.lines: dict[NodePath, int] = {}
        self.problems: list[Finding] = []
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node, path: NodePath, line: int) -> Any:
        self.count += 1
        if self.count > _MAX_NODES or len(path) > _MAX_DEPTH:
            raise _TooLarge
        self.lines.setdefault(path, line)
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG:
                return node.value  # most values: skip the constructor's dispatch
            try:
                return self.constructor.construct_object(node, deep=True)
            except Exception as exc:  # an unknown !tag, an empty !!int, !!bool maybe: PyYAML raises anything
                reason = getattr(exc, "problem", None) or f"{node.tag} cannot hold {node.value!r}"
                self._problem(node, "yaml-value", str(reason))
                return None
        if id(node) in self.active:
            self._problem(node, "yaml-alias", "an alias refers to a node that contains it (a cycle)")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i), _line(item)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return None
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: MappingNode, path: NodePath) -> dict[str, Any]:
        try:
            self.constructor.flatten_mapping(node)  # resolves "<<" merge keys
        except yaml.YAMLError as exc:
            reason = getattr(exc, "problem", None) or "a merge key (<<) needs a mapping or a list of mappings"
            self._problem(node, "yaml-merge", str(reason))
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._problem(
                    key_node, "yaml-key", "a mapping key must be a plain word, not a list or mapping"
                )
                continue
            # The key's text as written: YAML 1.1 would read keys like "on" or "1.2" as bool or float.
            key = key_node.value
            if key in result:
                self._problem(key_node, "yaml-duplicate-key", f"{key!r} is set twice in the same mapping")
                continue
            result[key] = self.build(value_node, (*path, key), _line(key_node))
        return result

    def _problem(self, node: Node, rule: str, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Finding(rule, message, Location(self.file, mark.line + 1, mark.column + 1)))


def document_owner(data: Any) -> str | None:
    """The team a document names as its owner (a Team owns itself), if it says so plainly."""
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return None
    key = "name" if data.get("kind") == "Team" else "owner"
    value = data["metadata"].get(key)
    return value if isinstance(value, str) and NAME.match(value) else None


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def read_documents(file: str, text: str) -> tuple[list[SourceDocument], list[Finding]]:
    """All documents of one YAML text, or the findings that say why it could not be read."""
    documents: list[SourceDocument] = []
    problems: list[Finding] = []
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
            if node is None:
                continue
            builder = _Builder(file)
            try:
                data = builder.build(node, (), _line(node))
            except _TooLarge:
                problems.append(
                    Finding(
                        "yaml-too-large",
                        "the document expands to too many nodes or nests too deep "
                        "(check anchors and aliases)",
                        Location(file, _line(node)),
                    )
                )
                continue
            owner = document_owner(data)
            problems.extend(replace(p, fix=owner) for p in builder.problems)
            if data is None:
                continue
            documents.append(SourceDocument(file, index, data, builder.lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1)
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        problems.append(Finding("yaml-syntax", f"YAML syntax error: {reason or exc}", where))
    except (yaml.YAMLError, RecursionError) as exc:
        problems.append(Finding("yaml-syntax", f"YAML syntax error: {exc}", Location(file, 1)))
    return documents, problems


def contract_files(root: Path) -> Iterator[Path]:
    """Every regular *.yaml / *.yml under ``root`` (or ``root`` itself), sorted, skipping hidden
    folders, following symlinked folders (tree.py says what it refused and why)."""
    yield from scan_tree(root)[0]


def read_tree(root: Path) -> tuple[list[SourceDocument], list[Finding]]:
    documents: list[SourceDocument] = []
    paths, problems = scan_tree(root)
    for path in paths:
        file = str(path)
        try:
            text = read_text(path)
        except UnicodeDecodeError as exc:
            problems.append(Finding("yaml-encoding", f"not UTF-8 text ({exc.reason})", Location(file, 1)))
            continue
        except OSError as exc:
            problems.append(Finding("contract-read", f"cannot read: {exc.strerror}", Location(file, 1)))
            continue
        docs, probs = read_documents(file, text)
        documents.extend(docs)
        problems.extend(probs)
    return documents, problems
