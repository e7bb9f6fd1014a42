"""``frontdoor render``: golden output per target, every core object valid against the Kubernetes API
schemas, custom resources carrying what their controllers require, names and labels, and errors.

Regenerate the golden files after an intended change, then review the diff:

    FRONTDOOR_UPDATE_GOLDEN=1 PYTHONPATH=src python -m pytest -q tests/test_render.py
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from frontdoor.cli import main
from frontdoor.contract.load import load_contract
from frontdoor.http.messages import HSTS
from frontdoor.render import RenderError, RenderOptions, render
from frontdoor.render.common import rate_per_unit
from frontdoor.render.naming import UniqueNames, dns_label, dns_subdomain

from .conftest import SHOP, edit
from .render_schemas import SPECS

GOLDEN = Path(__file__).parent / "golden" / "render"
KUBERNETES_TARGETS = ("gateway-api", "ingress-nginx", "traefik")
KUBERNETES_VERSION = "1.33.0"  # the schemas kubernetes-validate ships; the oldest minor we support
UPDATE = os.environ.get("FRONTDOOR_UPDATE_GOLDEN") == "1"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def rendered(target: str, directory: Path = SHOP, env: str = "prod", **options: Any) -> dict[str, str]:
    result = load_contract(directory)
    assert result.valid
    return render(result.contract, env, target, RenderOptions(**options))


def documents(files: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, text in sorted(files.items()):
        if name.endswith(".yaml") and not name.startswith("alertmanager/") and name != "kustomization.yaml":
            out.extend(d for d in yaml.safe_load_all(text) if d is not None)
    return out


# --- golden files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [*KUBERNETES_TARGETS, "nginx", "prometheus", "grafana"])
def test_golden(target: str) -> None:
    files = rendered(target)
    assert files == rendered(target), "rendering twice must give the same bytes"
    folder = GOLDEN / target
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    expected = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(expected), "files differ: FRONTDOOR_UPDATE_GOLDEN=1 and review"
    for name in files:
        assert files[name] == expected[name], f"{target}/{name} changed: FRONTDOOR_UPDATE_GOLDEN=1 and review"


# --- Kubernetes objects ----------------------------------------------------------------------------

CORE_GROUPS = {
    "v1",
    "apps/v1",
    "policy/v1",
    "autoscaling/v2",
    "networking.k8s.io/v1",
    "discovery.k8s.io/v1",
}


@pytest.mark.parametrize(
    ("target", "auth", "env"),
    [(t, None, "prod") for t in KUBERNETES_TARGETS]
    + [("gateway-api", "external", "prod"), ("gateway-api", None, "test"), ("traefik", None, "test")],
)
def test_objects_valid(target: str, auth: str | None, env: str) -> None:
    docs = documents(rendered(target, env=env, auth=auth))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds
    assert {"NetworkPolicy", "PrometheusRule", "ServiceMonitor", "KafkaTopic", "KafkaUser"} <= kinds
    names: set[tuple[str, str]] = set()
    for doc in docs:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in names, f"two {key[0]} objects named {key[1]}"
        names.add(key)
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "frontdoor"
        assert labels["frontdoor.dev/environment"] == env
        assert labels["frontdoor.dev/owner"] in {"shop-app", "payments-app", "platform"}
        pattern = DNS_LABEL if doc["kind"] in ("Service", "Deployment") else DNS_SUBDOMAIN
        assert pattern.match(doc["metadata"]["name"]), doc["metadata"]["name"]
        if doc["apiVersion"] in CORE_GROUPS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        else:
            schema = SPECS[(doc["apiVersion"], doc["kind"])]  # an unknown kind fails here: add its schema
            jsonschema.validate(doc["spec"], schema)
            if doc["apiVersion"].startswith("kafka.strimzi.io/"):
                assert labels["strimzi.io/cluster"] == "kafka"  # the Strimzi operators watch this label


def test_validation_catches_a_broken_object() -> None:
    """The checks can fail: a Deployment without its selector, an HTTPRoute with 17 rules, a
    SecurityPolicy that neither checks a JWT nor asks the authz are refused."""
    docs = documents(rendered("gateway-api"))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    del deployment["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    route["spec"]["rules"] *= 17
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(route["spec"], SPECS[(route["apiVersion"], "HTTPRoute")])
    policy = next(d for d in docs if d["kind"] == "SecurityPolicy")
    policy["spec"].pop("jwt", None)
    policy["spec"].pop("extAuth", None)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(policy["spec"], SPECS[(policy["apiVersion"], "SecurityPolicy")])


ADMIN = """  admin:
    listen: "127.0.0.1:9901"
    operators: [platform]
    token: secret:admin-token
"""


def without_admin(shop: Path) -> Path:
    """The example's prod Edge without its admin API (no kill switch), so that gateway-api's --auth
    native checks tokens and counts rate limits in Envoy Gateway itself."""
    edit(shop, "edges/public.yaml", ADMIN, "")
    return shop


def test_many_routes_split_into_several_httproutes(shop_copy: Path) -> None:
    routes = "".join(f"    - {{path: /catalog/part{i}, access: public}}\n" for i in range(20))
    edit(shop_copy, "services/catalog.yaml", "  routes:\n", "  routes:\n" + routes)
    without_admin(shop_copy)
    docs = documents(rendered("gateway-api", shop_copy))
    catalog = [
        d
        for d in docs
        if d["kind"] == "HTTPRoute" and d["metadata"]["labels"].get("frontdoor.dev/service") == "catalog"
    ]
    assert [d["metadata"]["name"] for d in catalog] == ["catalog", "catalog-2"]
    assert sum(len(d["spec"]["rules"]) for d in catalog) == 22
    for doc in catalog:
        jsonschema.validate(doc["spec"], SPECS[(doc["apiVersion"], "HTTPRoute")])
    secured = next(
        d for d in docs if d["kind"] == "SecurityPolicy" and d["metadata"]["name"] == "catalog-route-21"
    )
    assert secured["spec"]["targetRefs"][0]["name"] == "catalog-2"
    limits = next(
        d for d in docs if d["kind"] == "BackendTrafficPolicy" and d["metadata"]["name"] == "catalog"
    )
    assert [r["name"] for r in limits["spec"]["targetRefs"]] == ["catalog", "catalog-2"]


def test_kustomization_lists_every_object_file() -> None:
    files = rendered("gateway-api")
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    objects = sorted(n for n in files if n != "kustomization.yaml" and not n.startswith("alertmanager/"))
    assert kustomization["resources"] == objects
    assert kustomization["namespace"] == "frontdoor"


def test_authz_deployment_is_hardened() -> None:
    docs = documents(rendered("ingress-nginx"))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:1] == ["authz"] and "--env" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert not context["allowPrivilegeEscalation"]
    configmap = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] != "ingress-nginx-controller"
    )
    volume = next(v for v in pod["volumes"] if v["name"] == "contract")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    paths = {i["path"] for i in volume["configMap"]["items"]}
    assert {"teams.yaml", "services/orders.yaml", "environments/prod.yaml"} <= paths
    # secrets come from a Secret by reference; no value is ever rendered
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
    assert env["BILLING_BATCH_KEY_SHA256"] == "billing-batch-key-hash"
    assert env["FRONTDOOR_REDIS_URL"] == "redis-url"


def test_authz_reads_secrets_the_edge_names_directly(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "edges/public.yaml",
        "key_sha256: secret:billing-batch-key-hash",
        "key_sha256: env:BILLING_HASH",
    )
    edit(
        shop_copy,
        "edges/public.yaml",
        "key_sha256: secret:payment-provider-key-hash",
        "key_sha256: file:/run/keys/payment-provider",
    )
    deployment = next(d for d in documents(rendered("traefik", shop_copy)) if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
    assert env["BILLING_HASH"] == "BILLING_HASH"
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/run/keys/payment-provider")
    assert mount["subPath"] == "run_keys_payment-provider" and mount["readOnly"]
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_changing_the_contract_rolls_the_authz_pods(shop_copy: Path) -> None:
    def checksum(directory: Path) -> str:
        docs = documents(rendered("traefik", directory))
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["frontdoor.dev/contract-sha256"])

    before = checksum(shop_copy)
    edit(shop_copy, "services/catalog.yaml", "latency_p99_ms: 150", "latency_p99_ms: 200")
    assert checksum(shop_copy) != before


def test_gateway_api_access(shop_copy: Path) -> None:
    docs = documents(rendered("gateway-api", without_admin(shop_copy)))
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "SecurityPolicy"}
    # public routes have no policy; scopes, claims are Envoy Gateway rules; API clients go to authz
    assert "catalog-route-0" not in policies and "orders-route-2" not in policies
    read = policies["orders-route-0"]
    assert read["targetRefs"][0]["sectionName"] == "route-0"
    assert read["jwt"]["providers"][0]["issuer"] == "https://login.example.com/"
    assert read["authorization"]["defaultAction"] == "Deny"
    assert read["authorization"]["rules"][0]["principal"]["jwt"]["scopes"] == ["orders:read"]
    admin = policies["orders-route-3"]["authorization"]["rules"]
    assert {r["principal"]["jwt"]["claims"][0]["valueType"] for r in admin} == {"String", "StringArray"}
    batch = policies["orders-route-4"]
    assert "jwt" not in batch and batch["extAuth"]["http"]["backendRefs"][0]["name"] == "frontdoor-authz"
    finance = policies["payments-route-1"]["authorization"]["rules"][0]["principal"]["jwt"]
    assert finance["scopes"] == ["payments:read"] and finance["claims"][0]["name"] == "role"
    limits = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "BackendTrafficPolicy"}
    orders = limits["orders"]["rateLimit"]
    assert orders["type"] == "Global"  # the Edge's store is redis
    assert orders["global"]["rules"][0]["limit"] == {"requests": 50, "unit": "Second"}
    route = next(d for d in docs if d["kind"] == "HTTPRoute" and d["metadata"]["name"] == "orders")
    weights = [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]]
    assert weights == [90, 10]


def test_gateway_api_with_a_kill_switch_sends_everything_to_authz() -> None:
    """The example's Edge has an admin API: a stop, which only the authz knows, may hit any route, so
    --auth native sends every route to the authz too (public ones included), which then applies the
    rate limits; and the Edge's body limit and escaped-slash refusal are Envoy Gateway's."""
    docs = documents(rendered("gateway-api"))
    policies = [d for d in docs if d["kind"] == "SecurityPolicy"]
    assert {p["metadata"]["name"] for p in policies} == {"account", "catalog", "orders", "payments"}
    assert all("extAuth" in p["spec"] and "jwt" not in p["spec"] for p in policies)
    limits = [d for d in docs if d["kind"] == "BackendTrafficPolicy"]
    assert all("rateLimit" not in d["spec"] for d in limits)
    assert {d["spec"]["requestBuffer"]["limit"] for d in limits} == {str(1024 * 1024)}
    clients = [d for d in docs if d["kind"] == "ClientTrafficPolicy"]
    assert clients and all(
        c["spec"]["path"] == {"escapedSlashesAction": "RejectRequest", "disableMergeSlashes": True}
        for c in clients
    )


def test_gateway_api_external_sends_everything_to_authz() -> None:
    docs = documents(rendered("gateway-api", auth="external"))
    policies = [d for d in docs if d["kind"] == "SecurityPolicy"]
    assert {p["metadata"]["name"] for p in policies} == {"account", "catalog", "orders", "payments"}
    assert all("extAuth" in p["spec"] and "jwt" not in p["spec"] for p in policies)
    limits = [d for d in docs if d["kind"] == "BackendTrafficPolicy"]
    assert all("rateLimit" not in d["spec"] for d in limits)  # the authz limits: never twice


def test_ingress_nginx_auth_and_canary() -> None:
    docs = documents(rendered("ingress-nginx"))
    ingresses = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Ingress"}
    assert set(ingresses) == {"account", "catalog", "frontdoor-signin", "orders", "orders-canary", "payments"}
    orders = ingresses["orders"]["metadata"]["annotations"]
    assert orders["nginx.ingress.kubernetes.io/auth-url"].startswith("http://frontdoor-authz.frontdoor.svc")
    assert "X-Frontdoor-Subject" in orders["nginx.ingress.kubernetes.io/auth-response-headers"]
    canary = ingresses["orders-canary"]["metadata"]["annotations"]
    assert canary["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    assert canary["nginx.ingress.kubernetes.io/canary-weight-total"] == "100"
    paths = {p["path"]: p["pathType"] for p in ingresses["payments"]["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/payments": "Prefix", "/payments/webhook": "Exact"}
    assert ingresses["payments"]["spec"]["tls"] == [
        {"secretName": "hooks-tls-cert", "hosts": ["hooks.shop.example.com"]}
    ]


def test_cert_manager_issuer_from_edge_annotations(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "edges/public.yaml",
        "metadata: {name: public-edge, owner: platform, environments: [test, prod]}",
        "metadata: {name: public-edge, owner: platform, environments: [test, prod], "
        "annotations: {cert-manager.io/cluster-issuer: letsencrypt}}",
    )
    ingress = next(d for d in documents(rendered("ingress-nginx", shop_copy)) if d["kind"] == "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    gateway = next(d for d in documents(rendered("gateway-api", shop_copy)) if d["kind"] == "Gateway")
    assert gateway["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    certificates = [d for d in documents(rendered("traefik", shop_copy)) if d["kind"] == "Certificate"]
    assert {c["spec"]["secretName"] for c in certificates} == {"shop-tls-cert", "hooks-tls-cert"}
    assert not [d for d in documents(rendered("traefik")) if d["kind"] == "Certificate"]


def test_traefik_routes() -> None:
    docs = documents(rendered("traefik"))
    route = next(d for d in docs if d["kind"] == "IngressRoute" and d["metadata"]["name"] == "orders-public")
    matches = [r["match"] for r in route["spec"]["routes"]]
    assert "Host(`shop.example.com`) && (Path(`/orders`) || PathPrefix(`/orders/`)) && " in matches[-1]
    assert route["spec"]["routes"][0]["middlewares"][:2] == [
        {"name": "frontdoor-strip-identity"},
        {"name": "frontdoor-authz"},
    ]
    priorities = [r["priority"] for r in route["spec"]["routes"]]
    assert priorities == sorted(priorities, reverse=True)
    assert [s["weight"] for s in route["spec"]["routes"][0]["services"]] == [90, 10]


def test_alerts_follow_the_slo_and_the_team() -> None:
    files = rendered("ingress-nginx")
    rule = next(
        d for d in documents(files) if d["kind"] == "PrometheusRule" and "orders" in d["metadata"]["name"]
    )
    alerts = rule["spec"]["groups"][0]["rules"]
    assert {a["labels"]["team"] for a in alerts} == {"shop-app"}
    assert {a["labels"]["severity"] for a in alerts} == {"critical", "warning"}
    page = next(a for a in alerts if a["labels"]["severity"] == "critical")
    assert "14.4 * 0.001" in page["expr"]  # 99.9% availability
    latency = next(a for a in alerts if a["labels"]["slo"] == "latency")
    assert latency["expr"].endswith("> 0.3")  # 300 ms in seconds
    route = yaml.safe_load(files["alertmanager/payments-app.yaml"])
    assert route["route"]["matchers"][0] == 'team="payments-app"'
    receiver = route["receivers"][0]
    assert receiver["pagerduty_configs"][0]["routing_key_file"].endswith("/pagerduty/payments-primary")


def test_events_become_topics_and_acls() -> None:
    docs = documents(rendered("traefik"))
    topics = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == {"catalog.updated", "orders.created", "payments.settled"}
    assert topics["orders.created"]["metadata"]["labels"]["frontdoor.dev/owner"] == "shop-app"
    users = {
        d["metadata"]["name"]: d["spec"]["authorization"]["acls"] for d in docs if d["kind"] == "KafkaUser"
    }
    orders = {(a["resource"]["type"], a["resource"]["name"]): a["operations"] for a in users["orders"]}
    assert orders == {
        ("topic", "orders.created"): ["Write", "Describe"],
        ("topic", "payments.settled"): ["Read", "Describe"],
        ("group", "orders"): ["Read"],
    }
    assert ("group", "catalog") not in {
        (a["resource"]["type"], a["resource"]["name"]) for a in users["catalog"]
    }


def test_no_events_no_kafka(shop_copy: Path) -> None:
    for file, block in (
        ("services/catalog.yaml", "  events:\n    produces: [catalog.updated]\n"),
        (
            "services/orders.yaml",
            "  events:\n    produces: [orders.created]\n    consumes: [payments.settled]\n",
        ),
        (
            "services/payments.yaml",
            "  events:\n    produces: [payments.settled]\n    consumes: [orders.created]\n",
        ),
    ):
        edit(shop_copy, file, block, "")
    files = rendered("ingress-nginx", shop_copy)
    assert "events.yaml" not in files
    assert "events.yaml" not in yaml.safe_load(files["kustomization.yaml"])["resources"]


# --- names and units -------------------------------------------------------------------------------


def test_names_are_dns_1123_and_unique() -> None:
    assert dns_label("Shop_API", "v1.2") == "shop-api-v1-2"
    long = dns_label("x" * 80)
    assert len(long) == 63 and DNS_LABEL.match(long)
    assert dns_label("x" * 80) != dns_label("x" * 81)
    assert dns_subdomain("orders.created") == "orders.created"
    assert dns_label("***").startswith("x-")
    names = UniqueNames()
    first, second = names.name("Service", "a.b"), names.name("Service", "a-b")
    assert first == "a-b" and second != first and DNS_LABEL.match(second)
    assert names.name("Service", "a.b") == first  # stable for the same source


def test_rate_units() -> None:
    from frontdoor.contract.models import RateLimit

    assert rate_per_unit(RateLimit(requests=100, per=1)) == (100, "Second")
    assert rate_per_unit(RateLimit(requests=100, per=10)) == (600, "Minute")
    assert rate_per_unit(RateLimit(requests=5, per=0.5)) == (10, "Second")
    with pytest.raises(RenderError):
        rate_per_unit(RateLimit(requests=7, per=7 * 86400 + 1))


# --- errors and the command ------------------------------------------------------------------------


@pytest.mark.parametrize("target", KUBERNETES_TARGETS)
def test_loopback_upstreams_are_not_for_a_cluster(target: str) -> None:
    with pytest.raises(RenderError, match=r"127\.0\.0\.1 is not reachable from a cluster"):
        rendered(target, env="dev")
    assert "listen 127.0.0.1:8080 default_server;" in rendered("nginx", env="dev")["nginx.conf"]


def test_a_service_without_routes_gets_no_routing(shop_copy: Path) -> None:
    routes = (
        "  routes:\n    - path: =/payments/webhook\n      methods: [POST]\n"
        "      access: {clients: [payment-provider]}\n    - path: /payments\n      methods: [GET]\n"
        '      access: {scopes: ["payments:read"], claims: {role: finance}}\n'
    )
    edit(shop_copy, "services/payments.yaml", routes, "  routes: []\n")
    for target in KUBERNETES_TARGETS:
        docs = [
            d
            for d in documents(rendered(target, shop_copy))
            if d["metadata"]["labels"].get("frontdoor.dev/service") == "payments"
        ]
        kinds = {d["kind"] for d in docs}
        assert not kinds & {"HTTPRoute", "Ingress", "IngressRoute", "SecurityPolicy"}, target
        assert "NetworkPolicy" in kinds
    assert "-> payments" not in rendered("nginx", shop_copy)["nginx.conf"]  # no route listed for it


# --- one routing semantics: every target chooses serve's route -------------------------------------

#: catalog takes POST on "=/orders/settle" (other methods fall back to orders' "/orders" routes) and
#: HEAD on "/orders" (orders' GET route then does not answer HEAD: serve prefers the listed method)
FALLBACK_ROUTES = """  routes:
    - path: =/orders/settle
      methods: [POST]
      access: public
    - path: /orders
      methods: [HEAD]
      access: public
"""


def _with_fallback(shop_copy: Path) -> Path:
    edit(shop_copy, "services/catalog.yaml", "  routes:\n", FALLBACK_ROUTES)
    return shop_copy


def test_gateway_api_rules_match_as_serve(shop_copy: Path) -> None:
    docs = documents(rendered("gateway-api", _with_fallback(shop_copy)))
    rules = {
        (d["metadata"]["name"], r["name"]): r["matches"]
        for d in docs
        if d["kind"] == "HTTPRoute"
        for r in d["spec"]["rules"]
    }
    # a route with N methods is N matches; the exact POST route is more specific than the prefixes,
    # and a GET to it matches no method of it: Gateway API sends it to orders' "/orders" GET rule
    assert rules[("catalog", "route-0")] == [
        {"path": {"type": "Exact", "value": "/orders/settle"}, "method": "POST"}
    ]
    assert rules[("orders", "route-0")] == [
        {"path": {"type": "PathPrefix", "value": "/orders"}, "method": "GET"}
    ]
    assert rules[("catalog", "route-1")] == [
        {"path": {"type": "PathPrefix", "value": "/orders"}, "method": "HEAD"}
    ]
    # a route without methods is a rule without a method match
    assert rules[("orders", "route-2")] == [{"path": {"type": "PathPrefix", "value": "/orders/public-stats"}}]
    # a GET route answers HEAD where no route of its path lists HEAD
    assert [m["method"] for m in rules[("catalog", "route-2")]] == ["GET", "HEAD"]
    hsts = next(
        f["responseHeaderModifier"]["set"][0]["value"]
        for rule in (r for d in docs if d["kind"] == "HTTPRoute" for r in d["spec"]["rules"])
        for f in rule.get("filters", [])
        if f["type"] == "ResponseHeaderModifier"
    )
    assert hsts == HSTS


def test_traefik_priorities_follow_serve(shop_copy: Path) -> None:
    docs = documents(rendered("traefik", _with_fallback(shop_copy)))
    routes = [r for d in docs if d["kind"] == "IngressRoute" for r in d["spec"]["routes"]]

    def priority(fragment: str) -> int:
        found = [r["priority"] for r in routes if fragment in r["match"]]
        assert len(found) == 1, fragment
        return int(found[0])

    settle = priority("Path(`/orders/settle`)")
    orders_get = priority("PathPrefix(`/orders/`)) && (Method(`GET`))")  # no HEAD: catalog lists it
    orders_head = priority("PathPrefix(`/orders/`)) && (Method(`HEAD`))")
    stats = priority("Path(`/orders/public-stats`) ||")
    # the more specific path first; GET and HEAD of one path are apart by method, never tied
    assert settle > orders_get == orders_head and stats > orders_get
    # a route without methods has no Method matcher: it loses to a route of its path with methods
    assert not any("Method" in r["match"] for r in routes if "public-stats" in r["match"])
    hsts = next(d for d in docs if d["kind"] == "Middleware" and d["metadata"]["name"] == "frontdoor-hsts")
    assert f"max-age={hsts['spec']['headers']['stsSeconds']}" == HSTS
    assert "stsIncludeSubdomains" not in hsts["spec"]["headers"]


def test_ingress_nginx_refuses_a_path_whose_methods_reach_two_services(shop_copy: Path) -> None:
    with pytest.raises(
        RenderError,
        match=r"requests for /orders go to different places by method \(.*/orders HEAD \(catalog\)",
    ):
        rendered("ingress-nginx", _with_fallback(shop_copy))
    # the example's own fallback ("=/payments/webhook" POST, then "/payments") stays in one service
    assert rendered("ingress-nginx")


def test_nginx_lets_the_authz_route(shop_copy: Path) -> None:
    """nginx proxies where the authz says (the service, serve's path): one location per server,
    whatever the methods, and serve's HSTS."""
    conf = rendered("nginx", _with_fallback(shop_copy))["nginx.conf"]
    # one location per server (two entrypoints, a default server per address); no per-route ones
    assert conf.count("location / {") == 4 and "location /orders" not in conf
    assert "proxy_pass $fd_upstream$fd_path$is_args$args;" in conf
    assert "catalog http://service_catalog;" in conf and "orders http://service_orders;" in conf
    assert conf.count(f'add_header Strict-Transport-Security "{HSTS}" always;') >= 1
    assert "includeSubDomains" not in conf


def test_authz_runs_in_the_dialect_of_its_edge() -> None:
    def args(target: str, **options: Any) -> list[str]:
        docs = documents(rendered(target, **options))
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])

    envoy = args("gateway-api")
    assert envoy[envoy.index("--dialect") :][:4] == ["--dialect", "envoy", "--path-prefix", "/auth"]
    assert "nginx" in args("ingress-nginx") and "traefik" in args("traefik")
    trusted = args("traefik", authz_trusted=("10.42.0.0/16",))
    assert trusted[trusted.index("--trusted") :][:2] == ["--trusted", "10.42.0.0/16"]
    assert trusted.count("--trusted") == 1
    with pytest.raises(RenderError, match=r"10\.42\.0\.1/16"):
        rendered("traefik", authz_trusted=("10.42.0.1/16",))
    policy = next(
        d for d in documents(rendered("traefik")) if d["metadata"]["name"] == "frontdoor-authz-from-edge"
    )
    peers = policy["spec"]["ingress"][0]["from"]
    assert peers[0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "traefik"}


@pytest.mark.parametrize("target", KUBERNETES_TARGETS)
def test_authz_pods_run_the_admin_listener_and_keep_state(target: str) -> None:
    """The Edge declares admin (127.0.0.1:9901, token secret:admin-token) and rate_limits.store: redis."""
    docs = documents(rendered(target))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    # every address of the pod, on the Edge's admin port: a Service cannot reach the pod's loopback
    assert args[args.index("--admin-listen") + 1] == "0.0.0.0:9901"
    assert args[args.index("--state-dir") + 1] == "/var/lib/frontdoor"
    assert {"name": "admin", "containerPort": 9901, "protocol": "TCP"} in container["ports"]
    assert {"name": "state", "mountPath": "/var/lib/frontdoor"} in container["volumeMounts"]
    assert any(v["name"] == "state" and "emptyDir" in v for v in pod["volumes"])
    secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in container.get("env", [])}
    secrets |= {m["subPath"] for m in container["volumeMounts"] if "subPath" in m}
    assert {"admin-token", "redis-url"} <= secrets  # the admin token; the Redis that shares the stops
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "frontdoor-authz")
    assert {"name": "admin", "port": 9901, "targetPort": "admin"}.items() <= next(
        p for p in service["spec"]["ports"] if p["name"] == "admin"
    ).items()
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "admin"  # the metrics are the admin listener's
    policy = next(d for d in docs if d["metadata"]["name"] == "frontdoor-authz-from-edge")
    admitted = {p["port"]: rule["from"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert [peer["podSelector"]["matchLabels"] for peer in admitted[9901]] == [
        {"app.kubernetes.io/name": "prometheus"}
    ]


def test_unknown_target() -> None:
    with pytest.raises(RenderError, match="unknown target 'helm'"):
        rendered("helm")


def test_native_auth_only_for_gateway_api() -> None:
    with pytest.raises(RenderError, match="gateway-api"):
        rendered("traefik", auth="native")


def test_nginx_needs_certificate_files(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "environments/prod.yaml",
        "shop-tls-cert: file:/etc/frontdoor/tls/shop.crt",
        "shop-tls-cert: env:SHOP_CERT",
    )
    with pytest.raises(RenderError, match="files"):
        rendered("nginx", shop_copy)


def test_cli_render_writes_and_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["render", str(SHOP), "--env", "prod", "--target", "traefik", "--out", str(out)]) == 0
    assert (out / "kustomization.yaml").is_file() and (out / "services" / "orders.yaml").is_file()
    assert main(["render", str(SHOP), "--env", "prod", "--target", "nginx", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["nginx.conf"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    assert main(["render", str(SHOP), "--env", "prod", "--target", "nginx", "--out", str(foreign)]) == 2
    assert (foreign / "keep.txt").read_text() == "mine"
    assert "not empty" in " ".join(capsys.readouterr().err.split())


def test_cli_render_errors(tmp_path: Path, shop_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", str(SHOP), "--env", "prod", "--target", "helm", "--out", str(tmp_path / "a")])
    assert code == 2 and "unknown target" in " ".join(capsys.readouterr().err.split())
    code = main(["render", str(SHOP), "--env", "nope", "--target", "nginx", "--out", str(tmp_path / "b")])
    assert code == 2 and "no Environment named nope" in " ".join(capsys.readouterr().err.split())
    edit(shop_copy, "services/catalog.yaml", "      access: public\n", "")
    code = main(
        ["render", str(shop_copy), "--env", "prod", "--target", "nginx", "--out", str(tmp_path / "c")]
    )
    out = capsys.readouterr().out
    assert code == 2 and "route-access" in out and "invalid" in out
    assert not (tmp_path / "c").exists()


WIDE = """
apiVersion: frontdoor/v1
kind: Team
metadata: {name: app}
spec: {role: app, oncall: {primary: "mailto:app@example.com"}}
---
apiVersion: frontdoor/v1
kind: Team
metadata: {name: edge}
spec: {role: platform}
---
apiVersion: frontdoor/v1
kind: Team
metadata: {name: delivery}
spec: {role: delivery}
---
apiVersion: frontdoor/v1
kind: Service
metadata: {name: api, owner: app}
spec:
  exposure: public
  routes:
    - {path: /, access: public}
    - {path: =/v1/exact, methods: [GET], access: authenticated}
    - {path: /v1/strip, access: {scopes: [a, b]}, strip_prefix: true}
    - {path: /v1/flags, access: {claims: {beta: true}}}
  slo: {availability: 99.5}
---
apiVersion: frontdoor/v1
kind: Edge
metadata: {name: edge, owner: edge}
spec:
  entrypoints:
    - {name: plain, listen: "0.0.0.0:8080", hosts: ["*"], services: [api]}
    - name: secure
      listen: "0.0.0.0:8443"
      hosts: ["*.example.com", api.example.com]
      tls: {cert: secret:wide-tls, key: secret:wide-key, min_version: "1.3", hsts: true}
      services: [api]
  identity:
    providers:
      - {name: idp, issuer: "https://idp.example.com/", audiences: [api], scopes_claim: scp, jwks_uri: "https://idp.example.com/keys"}
  rate_limits: {default: {requests: 100, per: 10s, key: route}}
---
apiVersion: frontdoor/v1
kind: Environment
metadata: {name: prod, owner: delivery}
spec:
  upstreams:
    api:
      - {url: "http://api.internal.example:8080", weight: 5}
      - {url: "http://10.9.0.1:8080", weight: 3}
      - {url: "http://10.9.0.2:8080", weight: 2}
  secrets: {wide-tls: "file:/tls/crt", wide-key: "file:/tls/key"}
"""


def test_a_wider_contract(tmp_path: Path) -> None:
    """Wildcard and any-host entrypoints, exact, stripped, claim and scp routes, a DNS upstream and
    three uneven weights: valid objects where the target can express it, a reason where it cannot."""
    (tmp_path / "contract.yaml").write_text(WIDE)
    for target in ("gateway-api", "traefik"):
        for doc in documents(rendered(target, tmp_path)):
            if doc["apiVersion"] in CORE_GROUPS:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            else:
                jsonschema.validate(doc["spec"], SPECS[(doc["apiVersion"], doc["kind"])])
    docs = documents(rendered("gateway-api", tmp_path))
    backend = next(d for d in docs if d["kind"] == "Backend")
    assert backend["spec"]["endpoints"] == [{"fqdn": {"hostname": "api.internal.example", "port": 8080}}]
    gateway = next(d for d in docs if d["kind"] == "Gateway" and d["metadata"]["name"] == "secure")
    assert [listener.get("hostname") for listener in gateway["spec"]["listeners"]] == [
        "*.example.com",
        "api.example.com",
    ]
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "SecurityPolicy"}
    scp = policies["api-route-2"]["authorization"]["rules"][0]["principal"]["jwt"]
    assert scp["claims"] == [
        {"name": "scp", "valueType": "StringArray", "values": ["a"]},
        {"name": "scp", "valueType": "StringArray", "values": ["b"]},
    ]
    assert "extAuth" in policies["api-route-3"]  # a boolean claim: Envoy Gateway compares strings only
    assert "jwt" in policies["api-route-1"] and "authorization" not in policies["api-route-1"]
    limit = next(d for d in docs if d["kind"] == "BackendTrafficPolicy")["spec"]["rateLimit"]
    assert limit == {"type": "Local", "local": {"rules": [{"limit": {"requests": 600, "unit": "Minute"}}]}}
    traefik = documents(rendered("traefik", tmp_path))
    secure = next(d for d in traefik if d["kind"] == "IngressRoute" and d["metadata"]["name"] == "api-secure")
    assert secure["spec"]["routes"][-1]["match"].startswith(
        r"(HostRegexp(`^.+\.example\.com$`) || Host(`api.example.com`)) && PathPrefix(`/`)"
    )
    plain = next(d for d in traefik if d["kind"] == "IngressRoute" and d["metadata"]["name"] == "api-plain")
    assert plain["spec"]["routes"][-1]["match"] == "PathPrefix(`/`)" and "tls" not in plain["spec"]
    with pytest.raises(RenderError, match="splits traffic between 3 upstreams"):
        rendered("ingress-nginx", tmp_path)
    conf = rendered("nginx", tmp_path)["nginx.conf"]
    assert "server_name *.example.com api.example.com;" in conf  # never the bare domain, as serve
    assert "server api.internal.example:8080 weight=5;" in conf
    assert "ssl_protocols TLSv1.3;" in conf


def test_client_auth_is_rendered_for_nginx(shop_copy: Path) -> None:
    """(The Kubernetes targets: tests/test_render_k8s_tls.py.)"""
    edit(
        shop_copy,
        "edges/public.yaml",
        'min_version: "1.3"',
        'min_version: "1.3"\n        client_auth: {ca: secret:partner-ca, mode: optional}',
    )
    edit(
        shop_copy,
        "environments/prod.yaml",
        "    redis-url:",
        "    partner-ca: file:/etc/frontdoor/tls/partner-ca.pem\n    redis-url:",
    )
    edit(
        shop_copy,
        "environments/test.yaml",
        "    hooks-tls-key:",
        "    partner-ca: env:CA\n    hooks-tls-key:",
    )
    conf = rendered("nginx", shop_copy)["nginx.conf"]
    assert "ssl_client_certificate /etc/frontdoor/tls/partner-ca.pem;" in conf
    assert conf.count("ssl_verify_client optional;") == 1  # the webhooks entrypoint only


def test_host_certificates_from_files_are_refused_on_kubernetes(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "edges/public.yaml",
        "        key: secret:hooks-tls-key\n",
        "        key: secret:hooks-tls-key\n"
        "        certificates: [{hosts: [eu.hooks.shop.example.com], cert: file:/tls/eu.crt, key: file:/tls/eu.key}]\n",
    )
    conf = rendered("nginx", shop_copy)["nginx.conf"]
    assert (
        "eu.hooks.shop.example.com /tls/eu.crt;" in conf and "ssl_certificate $fd_tls_cert_webhooks;" in conf
    )
    # Kubernetes reads certificates from Secrets only: a file is no Secret to name
    for target in ("gateway-api", "ingress-nginx", "traefik"):
        with pytest.raises(
            RenderError, match=r"entrypoint webhooks tls\.certificates\[0\]\.cert file:/tls/eu\.crt"
        ):
            rendered(target, shop_copy)


def test_upstream_tls_is_rendered_for_nginx(shop_copy: Path) -> None:
    """(With real nginx and TLS: tests/test_render_nginx_upstream_tls.py.)"""
    edit(
        shop_copy,
        "environments/prod.yaml",
        '{url: "http://10.1.0.11:8080", weight: 90}',
        '{url: "https://10.1.0.11:8443", weight: 90, tls: {server_name: orders.internal}}',
    )
    edit(
        shop_copy, "environments/prod.yaml", '{url: "http://10.1.0.12:8080"', '{url: "https://10.1.0.12:8443"'
    )
    # orders' two upstreams differ in tls: one location cannot verify them alike
    with pytest.raises(
        RenderError, match=r"service orders: nginx verifies every upstream of a service alike"
    ):
        rendered("nginx", shop_copy)
    edit(
        shop_copy,
        "environments/prod.yaml",
        '{url: "https://10.1.0.12:8443"',
        '{url: "https://10.1.0.12:8443", tls: {server_name: orders.internal}',
    )
    conf = rendered("nginx", shop_copy)["nginx.conf"]
    assert "orders @frontdoor_upstream_tls_0;" in conf and "catalog @frontdoor_upstream;" in conf
    assert "orders orders.internal;" in conf  # the name verified and sent
    assert (
        conf.count("location @frontdoor_upstream_tls_0 {") == conf.count("# entrypoint ") == 2
    )  # per server
    assert "try_files /.frontdoor-upstream $fd_location;" in conf
    assert (
        "proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;" in conf
    )  # no tls.ca: the system's
