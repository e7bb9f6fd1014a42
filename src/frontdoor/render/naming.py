"""Kubernetes object names from contract names: valid DNS-1123, stable, and unique within a kind.

Contract names are already ``[a-z0-9-]`` (at most 63), but rendered names combine them (an entrypoint
and a service, a service and an endpoint index) and hosts or topics may hold dots, capitals or
underscores, so every name goes through one place: lowercased, anything else becomes ``-``, and a name
that had to be cut keeps a short hash of the whole. `UniqueNames` then keeps two different sources
from ever sharing a name (``a.b`` and ``a-b`` both sanitise to ``a-b``). Same contract, same names.
"""

from __future__ import annotations

import hashlib
import re

_LABEL_INVALID = re.compile(r"[^a-z0-9-]+")
_SUBDOMAIN_INVALID = re.compile(r"[^a-z0-9.-]+")
LABEL_MAX = 63  # DNS-1123 label: Services, ports, and every name that becomes part of a DNS name
SUBDOMAIN_MAX = 253  # DNS-1123 subdomain: most other kinds


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _clean(raw: str, invalid: re.Pattern[str], limit: int) -> str:
    name = invalid.sub("-", raw.lower())
    name = re.sub(r"-{2,}", "-", name)
    # every dot-separated part must start and end alphanumeric (no "-." or ".-", no empty part)
    name = ".".join(p.strip("-") for p in name.split(".") if p.strip("-"))
    if not name:
        return "x-" + digest(raw)
    if len(name) > limit:
        name = name[: limit - 9].rstrip("-.") + "-" + digest(raw)
    return name


def dns_label(*parts: str) -> str:
    """``parts`` joined by ``-`` as a DNS-1123 label: [a-z0-9-], starting and ending alphanumeric."""
    return _clean("-".join(p for p in parts if p), _LABEL_INVALID, LABEL_MAX)


def dns_subdomain(*parts: str) -> str:
    """``parts`` joined by ``-`` as a DNS-1123 subdomain: labels of [a-z0-9-] joined by dots."""
    return _clean("-".join(p for p in parts if p), _SUBDOMAIN_INVALID, SUBDOMAIN_MAX)


class UniqueNames:
    """Hands out names per kind: a second, different source of the same name gets a hash suffix."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, str], str] = {}

    def name(self, kind: str, *parts: str, subdomain: bool = False) -> str:
        source = "\0".join(parts)
        name = dns_subdomain(*parts) if subdomain else dns_label(*parts)
        owner = self._taken.setdefault((kind, name), source)
        if owner == source:
            return name
        limit = SUBDOMAIN_MAX if subdomain else LABEL_MAX
        alternative = name[: limit - 9].rstrip("-.") + "-" + digest(source)
        self._taken[(kind, alternative)] = source
        return alternative
