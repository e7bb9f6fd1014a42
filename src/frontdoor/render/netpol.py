"""A NetworkPolicy per exposed service: its pods accept traffic only from the edge's proxies.

The services' pods are found by the Kubernetes recommended label ``app.kubernetes.io/name: <service>``
in the namespace the manifests are applied to; the edge by its namespace and its pods' labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontdoor.render.context import Site
from frontdoor.render.labels import labels, obj

APP_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class EdgePods:
    namespace: str
    pod_labels: dict[str, str]

    def peer(self) -> dict[str, Any]:
        """A NetworkPolicy peer: these pods in that namespace."""
        return {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
            "podSelector": {"matchLabels": dict(self.pod_labels)},
        }


def network_policy(site: Site, service: str, edge: EdgePods) -> dict[str, Any]:
    ports = sorted({u.url.port for u in site.upstreams(service)})
    peer = edge.peer()
    return obj(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        site.names.name("NetworkPolicy", service, "from-edge"),
        labels(site.environment, site.plan.service_owners[service], service),
        {
            "podSelector": {"matchLabels": {APP_LABEL: service}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [peer], "ports": [{"port": p, "protocol": "TCP"} for p in ports]}],
        },
    )
