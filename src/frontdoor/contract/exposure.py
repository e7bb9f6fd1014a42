"""Which services an entrypoint exposes, and which Edge serves an environment: shared by rules and plans."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frontdoor.contract.models import Entrypoint

if TYPE_CHECKING:
    from frontdoor.contract.loaded import Contract


def exposed_services(contract: Contract, entrypoint: Entrypoint) -> list[str]:
    """Services this entrypoint exposes, in order: named ones, and every public service for ``*``."""
    names: list[str] = []
    for entry in entrypoint.services:
        if entry == "*":
            names.extend(n for n, s in sorted(contract.services.items()) if s.spec.exposure == "public")
        elif entry in contract.services:
            names.append(entry)
    return list(dict.fromkeys(names))
