"""The build backend's one decision (buildsupport/frontdoor_backend.py): compiled when a C compiler and
the Python headers are there, pure Python otherwise or when asked; and what the running build says of
itself (frontdoor/buildinfo.py). `make test-compiled` checks the compiled side on a real install."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from frontdoor.buildinfo import PURE, build_kind

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "buildsupport"))
    monkeypatch.chdir(ROOT)  # it reads pyproject.toml where pip runs it: the project's root
    for name in ("FRONTDOOR_PURE", "FRONTDOOR_COMPILE", "CC"):
        monkeypatch.delenv(name, raising=False)
    return importlib.import_module("frontdoor_backend")


def test_without_a_c_compiler_the_build_is_pure_and_needs_no_mypy(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "no-such-compiler-anywhere")
    compiled, forced, why = backend.compile_choice()
    assert (compiled, forced) == (False, False) and "no C compiler" in why
    assert not any(r.startswith("mypy") for r in backend.get_requires_for_build_wheel())


def test_with_a_compiler_and_headers_it_compiles_and_asks_for_mypy_and_the_dependencies(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "_c_compiler", lambda: "/usr/bin/cc")
    monkeypatch.setattr(backend, "_python_headers", lambda: True)
    assert backend.compile_choice()[:2] == (True, False)
    requires = backend.get_requires_for_build_wheel()
    assert any(r.startswith("mypy") for r in requires)
    assert any(r.startswith("pydantic") for r in requires)  # mypyc type-checks with its plugin
    monkeypatch.setattr(backend, "_python_headers", lambda: False)
    assert backend.compile_choice()[0] is False


def test_the_environment_forces_either_way(backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDOOR_COMPILE", "1")
    monkeypatch.setenv("CC", "no-such-compiler-anywhere")
    assert backend.compile_choice()[:2] == (True, True)  # asked for: fails loudly rather than go pure
    monkeypatch.setenv("FRONTDOOR_PURE", "1")
    assert backend.compile_choice()[:2] == (False, True)  # pure wins


def test_editable_installs_stay_setuptools_own(backend: ModuleType) -> None:
    from setuptools import build_meta

    assert backend.build_editable is build_meta.build_editable
    assert backend.build_sdist is build_meta.build_sdist


def test_the_version_says_which_build_runs() -> None:
    assert build_kind() == PURE  # the tests' .venv is an editable, pure install
    done = subprocess.run(
        [sys.executable, "-m", "frontdoor", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().endswith(f"({PURE})")
