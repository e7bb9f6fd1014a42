"""frontdoor's PEP 517 build backend: setuptools', which compiles the request path with mypyc whenever it
can, so that ``pip install .`` (and a wheel, and ``make demo``) gives users the fast build.

What is built:

- ``FRONTDOOR_PURE=1``: pure Python, whatever the machine has;
- ``FRONTDOOR_COMPILE=1``: compiled, and the build fails if it cannot be (``make test-compiled`` and
  packagers who must not ship the slow build by accident);
- otherwise compiled when a C compiler and the Python headers are found, pure Python when not, and pure
  Python (with a warning) if compiling fails anyway: an install never fails for want of the fast path;
- editable installs (``pip install -e``) and sdists: pure Python, always (the compiled modules would
  shadow the sources a developer edits).

setup.py lists the modules compiled; it compiles when FRONTDOOR_COMPILE is "1" in its environment, which
this backend sets for the one build. mypyc type-checks those modules against everything they import,
so a compiled build also needs mypy, the project's own dependencies (pydantic's mypy plugin among them)
and the YAML stubs in its build environment: ``get_requires_for_build_wheel`` asks pip for them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - every hook not defined below is setuptools' own

COMPILER_REQUIRES = ["mypy>=1.10", "types-PyYAML>=6.0.12"]


def _say(message: str) -> None:
    print(f"frontdoor build: {message}", file=sys.stderr, flush=True)


def _c_compiler() -> str | None:
    """The compiler setuptools would call (CC, else the one Python was built with), if it is installed."""
    configured = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(str(configured))
    return shutil.which(words[0]) if words else None


def _python_headers() -> bool:
    return (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file()


def compile_choice() -> tuple[bool, bool, str]:
    """(compile?, forced?, why): the one decision, stated in the build's output."""
    if os.environ.get("FRONTDOOR_PURE") == "1":
        return False, True, "FRONTDOOR_PURE=1"
    if os.environ.get("FRONTDOOR_COMPILE") == "1":
        return True, True, "FRONTDOOR_COMPILE=1"
    compiler = _c_compiler()
    if compiler is None:
        return False, False, "no C compiler found (install gcc, or set CC)"
    if not _python_headers():
        return False, False, "no Python headers (Python.h) found (install python3-dev)"
    return True, False, f"{compiler} and the Python headers found"


def _project_dependencies() -> list[str]:
    with open("pyproject.toml", "rb") as document:
        project: dict[str, Any] = tomllib.load(document)["project"]
    return list(project.get("dependencies", []))


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    requires = list(_setuptools.get_requires_for_build_wheel(config_settings))
    if compile_choice()[0]:
        requires += [*COMPILER_REQUIRES, *_project_dependencies()]
    return requires


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    compiled, forced, why = compile_choice()
    if compiled:
        try:
            return _build(wheel_directory, config_settings, metadata_directory, compiled=True, why=why)
        except (Exception, SystemExit) as exc:  # setuptools reports a failed compile with SystemExit
            if forced:
                raise
            _say(f"compiling failed ({exc!r}); building pure Python instead")
            why = "compiling failed"
    return _build(wheel_directory, config_settings, metadata_directory, compiled=False, why=why)


def _build(
    wheel_directory: str,
    config_settings: dict[str, Any] | None,
    metadata_directory: str | None,
    *,
    compiled: bool,
    why: str,
) -> str:
    _say(f"{'compiled (mypyc)' if compiled else 'pure Python'}: {why}")
    # setuptools copies whatever its build/ folder holds into the wheel: a module compiled by an earlier
    # build would ship in a pure one (or one no longer compiled would shadow its .py). Start from none.
    shutil.rmtree("build", ignore_errors=True)
    previous = os.environ.get("FRONTDOOR_COMPILE")
    os.environ["FRONTDOOR_COMPILE"] = "1" if compiled else "0"
    try:
        return str(_setuptools.build_wheel(wheel_directory, config_settings, metadata_directory))
    finally:
        if previous is None:
            os.environ.pop("FRONTDOOR_COMPILE", None)
        else:
            os.environ["FRONTDOOR_COMPILE"] = previous
