"""What every Kubernetes target renders around its own routing objects, and how the files are laid out:

kustomization.yaml         lists every file below (the Alertmanager snippets are not Kubernetes objects)
frontdoor-authz.yaml       the authz service: ConfigMap, Deployment, Service, PDB, HPA, ServiceMonitor
edge.yaml                  the target's edge-wide objects (Gateways, shared Middlewares), if any
services/<service>.yaml    backends, routing, policies, NetworkPolicy and PrometheusRule of one service
events.yaml                Strimzi topics and users, when any service declares events
grafana-dashboards.yaml    a dashboard per team and the edge's overview, as Grafana sidecar ConfigMaps
alertmanager/<team>.yaml   the Alertmanager route and receiver of each team that owns alerts
"""

from __future__ import annotations

from typing import Any, Protocol

from frontdoor.render import yamlout
from frontdoor.render.alerts import SloMetrics, alertmanager_routes, prometheus_rule
from frontdoor.render.authz_k8s import authz_objects
from frontdoor.render.context import Site
from frontdoor.render.events import event_objects
from frontdoor.render.grafana import config_maps
from frontdoor.render.netpol import EdgePods, network_policy

Files = dict[str, str]


class KubernetesTarget(Protocol):
    name: str
    edge_pods: EdgePods  # where the controller's proxies run, by default
    dialect: str  # how the controller describes a request to frontdoor authz (nginx, traefik, envoy)

    def edge_objects(self, site: Site) -> list[dict[str, Any]]: ...

    def service_objects(self, site: Site, service: str) -> list[dict[str, Any]]: ...

    def slo_metrics(self, site: Site, objects: list[dict[str, Any]]) -> SloMetrics:
        """PromQL for the service whose routing ``objects`` this target just rendered."""


def render_kubernetes(site: Site, target: KubernetesTarget) -> Files:
    edge = target.edge_pods
    if site.options.edge_namespace:
        edge = EdgePods(site.options.edge_namespace, edge.pod_labels)
    files: Files = {"frontdoor-authz.yaml": yamlout.dump_all(authz_objects(site, target.dialect, edge))}
    edge_objects = target.edge_objects(site)
    if edge_objects:
        files["edge.yaml"] = yamlout.dump_all(edge_objects)
    alerted: list[str] = []
    metrics: dict[str, SloMetrics] = {}
    for service in site.exposed_services():
        objects = target.service_objects(site, service)
        objects.append(network_policy(site, service, edge))
        metrics[service] = target.slo_metrics(site, objects)
        rule = prometheus_rule(site, service, metrics[service])
        if rule is not None:
            objects.append(rule)
            alerted.append(site.plan.service_owners[service])
        files[f"services/{service}.yaml"] = yamlout.dump_all(objects)
    events = event_objects(site)
    if events:
        files["events.yaml"] = yamlout.dump_all(events)
    files["grafana-dashboards.yaml"] = yamlout.dump_all(config_maps(site, metrics.__getitem__))
    resources = sorted(files)
    for team, snippet in alertmanager_routes(site, alerted).items():
        files[f"alertmanager/{team}.yaml"] = yamlout.dump(snippet)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": site.options.namespace,
        "resources": resources,
    }
    files["kustomization.yaml"] = yamlout.dump(kustomization)
    # objects of the controller's own namespace (ingress-nginx's TLS ConfigMap), applied apart
    controller = getattr(target, "controller_objects", None)
    if callable(controller) and (objects := controller(site)):
        files["controller/config.yaml"] = yamlout.dump_all(objects)
    return files
