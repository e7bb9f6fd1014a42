"""No field without effect: every field of the four kinds is either proven to change behaviour
(field_effects.EFFECTS, with the tests that prove it) or declared documentation-only with a reason
(frontdoor.contract.informative.INFORMATIVE). A new field in neither list fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from frontdoor.contract.informative import INFORMATIVE
from frontdoor.contract.models import MODEL_BY_KIND

from .field_effects import EFFECTS

TESTS = Path(__file__).parent


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    pending = [annotation]
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            found.append(current)
        else:
            pending.extend(get_args(current))
    return found


def _is_collection(annotation: Any) -> bool:
    return "tuple[" in str(annotation) or "dict[" in str(annotation)


def _needs_a_verdict(info: FieldInfo) -> bool:
    """A field holding models is a container: its own fields carry the effects. It is judged itself
    only when its presence can change something: an optional block that is off when absent (tls,
    oncall, access_log...). A required one, a list or map of models, or one with a default that is a
    model (writing it changes nothing until one of its fields is written) is not."""
    if not _models_in(info.annotation):
        return True
    return not info.is_required() and info.default is None and not _is_collection(info.annotation)


def field_paths() -> list[str]:
    paths: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            path = f"{prefix}.{info.alias or name}"
            if _needs_a_verdict(info):
                paths.append(path)
            for inner in _models_in(info.annotation):
                walk(inner, path)

    for kind, model in MODEL_BY_KIND.items():
        walk(model, kind)
    return paths


def _entry(table: dict[str, Any], path: str) -> Any:
    return table.get(path, table.get("*." + path.partition(".")[2]))


def test_every_field_changes_behaviour_or_is_declared_informative() -> None:
    paths = field_paths()
    assert len(paths) > 100  # the walk reaches the nested models
    missing = [p for p in paths if _entry(EFFECTS, p) is None and _entry(INFORMATIVE, p) is None]
    assert not missing, (
        "fields in neither tests/field_effects.py nor frontdoor/contract/informative.py: "
        + ", ".join(missing)
    )
    both = [p for p in paths if _entry(EFFECTS, p) is not None and _entry(INFORMATIVE, p) is not None]
    assert not both, f"fields listed as both effective and informative: {both}"


def test_every_listed_path_is_a_field() -> None:
    real = set(field_paths())
    kinds = MODEL_BY_KIND.keys()

    def exists(path: str) -> bool:
        if path.startswith("*."):
            return all(f"{kind}.{path[2:]}" in real for kind in kinds)
        return path in real

    stale = [p for p in (*EFFECTS, *INFORMATIVE) if not exists(p)]
    assert not stale, f"listed paths that are no field (renamed or removed?): {stale}"


def test_informative_fields_say_why() -> None:
    assert all(len(reason) > 20 for reason in INFORMATIVE.values())


def _test_functions(module: str) -> tuple[set[str], str]:
    source = (TESTS / f"{module}.py").read_text()
    tree = ast.parse(source)
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return names, source


def test_every_named_proof_exists() -> None:
    cache: dict[str, tuple[set[str], str]] = {}
    wrong = []
    for path, proofs in EFFECTS.items():
        assert proofs, f"{path}: an effect without a test"
        for proof in proofs:
            match = re.fullmatch(r"(test_\w+)::(test_\w+)(?:\[([\w.-]+)\])?", proof)
            if match is None or not (TESTS / f"{match.group(1)}.py").exists():
                wrong.append(f"{path}: {proof}")
                continue
            module, function, case = match.groups()
            names, source = cache.setdefault(module, _test_functions(module))
            if function not in names or (case is not None and f'"{case}"' not in source):
                wrong.append(f"{path}: {proof}")
    assert not wrong, "proofs that name no test: " + "; ".join(wrong)
