"""Which build runs: "compiled (mypyc)" or "pure Python" (buildsupport/frontdoor_backend.py decides at
install). Read from where the request path's modules load from, not from a flag written at build time,
so that a build that compiled nothing can never claim it did; their specs are found without importing
them (``frontdoor --version`` stays as cheap as it was)."""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from importlib.util import find_spec

COMPILED = "compiled (mypyc)"
PURE = "pure Python"
# two modules of setup.py's HOT_MODULES, one from each end of the request path
PROBES = ("frontdoor.http.h1", "frontdoor.proxy.downstream")


def build_kind() -> str:
    for name in PROBES:
        spec = find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None or not origin.endswith(tuple(EXTENSION_SUFFIXES)):
            return PURE
    return COMPILED
