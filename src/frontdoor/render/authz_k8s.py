"""`frontdoor authz` on Kubernetes: the contract in a ConfigMap, a Deployment that runs the decisions
every Kubernetes target delegates to it, and what keeps it available and observed (Service,
PodDisruptionBudget, HorizontalPodAutoscaler, ServiceMonitor).

When the Edge declares ``admin``, every pod runs the admin listener (stop/start, audit, metrics) on the
Edge's admin port, on all of the pod's addresses: the container port and the Service name it, the
ServiceMonitor scrapes it, and the NetworkPolicy admits only Prometheus to it (operators use
``kubectl port-forward``). Stops are shared by the pods through the Edge's Redis with
``rate_limits.store: redis``; the state directory is an emptyDir (the pod's audit log, the last stops read).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from frontdoor.contract.source import contract_files
from frontdoor.contract.values import SecretRef
from frontdoor.render import authz_api
from frontdoor.render.context import RenderError, Site
from frontdoor.render.labels import labels, obj
from frontdoor.render.naming import digest
from frontdoor.render.netpol import EdgePods

SECRET_NAME = "frontdoor-secrets"  # holds each secret the authz reads, keyed by its contract name
STATE_MOUNT = "/var/lib/frontdoor"  # --state-dir: the pod's audit log and the last stops read
ADMIN_PORT_NAME = "admin"
_CONFIGMAP_MAX = 1024 * 1024  # the API server refuses a ConfigMap over 1 MiB
_KEY_INVALID = re.compile(r"[^-._a-zA-Z0-9]")


def selector(site: Site) -> dict[str, str]:
    return {"app.kubernetes.io/name": authz_api.NAME, "frontdoor.dev/environment": site.environment}


def _labels(site: Site) -> dict[str, str]:
    return labels(site.environment, site.platform_team) | selector(site)


def contract_configmap(site: Site) -> tuple[dict[str, Any], list[dict[str, str]], str]:
    """The contract's files as a ConfigMap, the volume items that rebuild its tree, and its digest."""
    root = site.contract.root
    data: dict[str, str] = {}
    items: list[dict[str, str]] = []
    for path in contract_files(root):
        relative = path.name if root.is_file() else path.relative_to(root).as_posix()
        key = _KEY_INVALID.sub("_", relative.replace("/", "__"))
        if key in data:
            key = f"{key}.{digest(relative)}"
        data[key] = path.read_text(encoding="utf-8")
        items.append({"key": key, "path": relative})
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    if size > _CONFIGMAP_MAX:
        raise RenderError(
            f"the contract is {size} bytes; a ConfigMap holds at most 1 MiB: ship it in the image instead"
        )
    checksum = hashlib.sha256("\0".join(f"{k}\0{v}" for k, v in sorted(data.items())).encode()).hexdigest()
    configmap = obj("v1", "ConfigMap", f"{authz_api.NAME}-contract", _labels(site), data=data)
    return configmap, sorted(items, key=lambda i: i["path"]), checksum


def _secret_inputs(site: Site) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Environment variables and files the authz reads its secrets from: API client key hashes and,
    with a shared rate-limit store, the Redis URL. All come from one Secret, keyed by the contract's
    secret name (``secret:NAME``), or by the variable or file name the Edge gives directly."""
    wanted: dict[str, Any] = {}
    edge = site.plan.edge.spec
    for client in edge.identity.api_clients:
        ref = client.key_sha256
        if ref is None:
            continue  # a certificate client: the ingress verifies it, authz reads no secret for it
        key = ref.target if ref.scheme != "file" else _KEY_INVALID.sub("_", ref.target.strip("/"))
        wanted[key] = site.resolve(ref)
    if edge.rate_limits is not None and edge.rate_limits.store == "redis":
        # the shared store of rate limits and stops
        wanted["redis-url"] = site.resolve(SecretRef("secret", "redis-url"))
    if edge.admin is not None and edge.admin.token is not None:
        ref = edge.admin.token
        key = ref.target if ref.scheme != "file" else _KEY_INVALID.sub("_", ref.target.strip("/"))
        wanted[key] = site.resolve(ref)
    env: list[dict[str, Any]] = []
    files: list[tuple[str, str]] = []
    for name in sorted(wanted):
        ref = wanted[name]
        if ref.scheme == "env":
            env.append(
                {
                    "name": ref.target,
                    "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": name}},
                }
            )
        else:
            files.append((name, ref.target))
    return env, files


def authz_objects(site: Site, dialect: str, edge: EdgePods) -> list[dict[str, Any]]:
    namespace = site.options.namespace
    configmap, items, checksum = contract_configmap(site)
    env, files = _secret_inputs(site)
    mounts: list[dict[str, Any]] = [
        {"name": "contract", "mountPath": authz_api.CONTRACT_MOUNT, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "state", "mountPath": STATE_MOUNT},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "contract", "configMap": {"name": configmap["metadata"]["name"], "items": items}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        {"name": "state", "emptyDir": {"sizeLimit": "16Mi"}},
    ]
    admin = site.plan.edge.spec.admin
    admin_port = admin.listen.port if admin is not None else None
    listen = f"0.0.0.0:{authz_api.PORT}"
    args = authz_api.command(site.environment, listen, dialect, site.options.authz_trusted)
    args += ["--state-dir", STATE_MOUNT]
    ports: list[dict[str, Any]] = [
        {"name": authz_api.PORT_NAME, "containerPort": authz_api.PORT, "protocol": "TCP"}
    ]
    if admin_port is not None:
        args += ["--admin-listen", f"0.0.0.0:{admin_port}"]
        ports.append({"name": ADMIN_PORT_NAME, "containerPort": admin_port, "protocol": "TCP"})
    if files:
        volumes.append({"name": "secrets", "secret": {"secretName": SECRET_NAME}})
        # one file per mount, at the path the Environment names (subPath: a Secret key as a file)
        mounts.extend(
            {"name": "secrets", "mountPath": path, "subPath": key, "readOnly": True} for key, path in files
        )
    probe = {"periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3}
    container: dict[str, Any] = {
        "name": "authz",
        "image": site.options.image,
        "args": args,
        "ports": ports,
        "readinessProbe": {"httpGet": {"path": authz_api.READY_PATH, "port": authz_api.PORT_NAME}} | probe,
        "livenessProbe": {"httpGet": {"path": authz_api.HEALTH_PATH, "port": authz_api.PORT_NAME}}
        | probe
        | {"initialDelaySeconds": 5},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": sorted(mounts, key=lambda m: str(m["mountPath"])),
    }
    if env:
        container["env"] = env
    pod_labels = _labels(site)
    deployment = obj(
        "apps/v1",
        "Deployment",
        authz_api.NAME,
        pod_labels,
        {
            # no replicas: the HorizontalPodAutoscaler owns the count, and apply must not reset it
            "selector": {"matchLabels": selector(site)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    # a changed contract changes the pod template, so the pods roll and reload it
                    "annotations": {"frontdoor.dev/contract-sha256": checksum},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(site)},
                        }
                    ],
                },
            },
        },
    )
    service_ports = [
        {
            "name": authz_api.PORT_NAME,
            "port": authz_api.PORT,
            "targetPort": authz_api.PORT_NAME,
            "protocol": "TCP",
            "appProtocol": "http",
        }
    ]
    if admin_port is not None:
        service_ports.append(
            {
                "name": ADMIN_PORT_NAME,
                "port": admin_port,
                "targetPort": ADMIN_PORT_NAME,
                "protocol": "TCP",
                "appProtocol": "http",
            }
        )
    service = obj(
        "v1",
        "Service",
        authz_api.NAME,
        _labels(site),
        {"type": "ClusterIP", "selector": selector(site), "ports": service_ports},
    )
    pdb = obj(
        "policy/v1",
        "PodDisruptionBudget",
        authz_api.NAME,
        _labels(site),
        {"minAvailable": 1, "selector": {"matchLabels": selector(site)}},
    )
    hpa = obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        authz_api.NAME,
        _labels(site),
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": authz_api.NAME},
            "minReplicas": 2,  # one pod lost to a node drain must not stop every request at the edge
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    )
    observability = site.plan.edge.spec.observability
    metrics_path = (
        observability.metrics.path
        if observability is not None and observability.metrics is not None
        else authz_api.METRICS_PATH
    )
    monitor = obj(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        authz_api.NAME,
        _labels(site),
        {
            "selector": {"matchLabels": selector(site)},
            "namespaceSelector": {"matchNames": [namespace]},
            # the metrics are the admin listener's, when the Edge declares one
            "endpoints": [
                {
                    "port": ADMIN_PORT_NAME if admin_port is not None else authz_api.PORT_NAME,
                    "path": metrics_path,
                    "interval": "30s",
                }
            ],
        },
    )
    # only the edge's proxies may ask (the authz believes what a trusted peer says about the request),
    # and Prometheus may scrape; of the admin listener, only Prometheus (operators port-forward to it)
    prometheus = {
        "namespaceSelector": {},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    check_port = {"port": authz_api.PORT, "protocol": "TCP"}
    if admin_port is None:
        ingress: list[dict[str, Any]] = [{"from": [edge.peer(), prometheus], "ports": [check_port]}]
    else:
        ingress = [
            {"from": [edge.peer()], "ports": [check_port]},
            {"from": [prometheus], "ports": [{"port": admin_port, "protocol": "TCP"}]},
        ]
    policy = obj(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        f"{authz_api.NAME}-from-edge",
        _labels(site),
        {"podSelector": {"matchLabels": selector(site)}, "policyTypes": ["Ingress"], "ingress": ingress},
    )
    return [configmap, deployment, service, pdb, hpa, monitor, policy]
