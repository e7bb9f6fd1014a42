"""The labels every rendered object carries, so a platform can find, own and route what frontdoor made."""

from __future__ import annotations

from typing import Any

MANAGED_BY = "app.kubernetes.io/managed-by"
OWNER = "frontdoor.dev/owner"
SERVICE = "frontdoor.dev/service"
ENVIRONMENT = "frontdoor.dev/environment"
PART_OF = "app.kubernetes.io/part-of"


def labels(environment: str, owner: str, service: str | None = None) -> dict[str, str]:
    """``owner`` is the team that owns the object's subject: the app team for a service's objects, the
    platform team for the edge's. ``service`` is omitted on objects that serve every service."""
    out = {MANAGED_BY: "frontdoor", PART_OF: "frontdoor", OWNER: owner, ENVIRONMENT: environment}
    if service is not None:
        out[SERVICE] = service
    return out


def obj(
    api_version: str,
    kind: str,
    name: str,
    object_labels: dict[str, str],
    spec: dict[str, Any] | None = None,
    *,
    namespace: str | None = None,
    annotations: dict[str, str] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A Kubernetes object with its metadata; ``top`` holds other top-level fields (data, type)."""
    metadata: dict[str, Any] = {"name": name, "labels": dict(object_labels)}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = dict(annotations)
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        out["spec"] = spec
    out.update(top)
    return out
