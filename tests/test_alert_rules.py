"""The SLO alerts proven with a real ``promtool`` (Debian's prometheus package): for every target,
the rules pass ``promtool check rules``, and the unit tests generated from each service's ``slo``
(render/alert_tests.py) pass ``promtool test rules``: each alert fires on a burning error budget or a
slow p99, with its labels and annotations, and stays quiet on healthy traffic. Envoy's series for
gateway-api, ingress-nginx's, Traefik's, and frontdoor's own for serve (target ``prometheus``).

For the Kubernetes targets the rule group is read back from the rendered PrometheusRule, and the
series are the ones the target says its controller exports for the objects rendered beside it. That
alone would be circular (the rules and their tests both come from the target's own idea of its
controller's series), so every series, label and label value the gateway-api, ingress-nginx and
traefik rules and test series use is also checked against ``fixtures/controller_metrics.yaml``: the
names Envoy, Envoy Gateway, ingress-nginx and Traefik really export, read from their sources
(repository, path, version).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.contract_scale import generate

from frontdoor.contract.load import Contract, load_contract
from frontdoor.plan import compile_plan
from frontdoor.render import RenderOptions, render
from frontdoor.render.alert_tests import unit_tests
from frontdoor.render.context import Site
from frontdoor.render.gateway_api import GatewayApiTarget
from frontdoor.render.ingress_nginx import IngressNginxTarget
from frontdoor.render.kubernetes import KubernetesTarget
from frontdoor.render.traefik import TraefikTarget

from .conftest import SHOP

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"  # scripts/system-packages.sh installs it
KUBERNETES: dict[str, KubernetesTarget] = {
    "gateway-api": GatewayApiTarget(),
    "ingress-nginx": IngressNginxTarget(),
    "traefik": TraefikTarget(),
}
TARGETS = (*KUBERNETES, "prometheus")
CONTROLLERS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parent / "fixtures" / "controller_metrics.yaml").read_text()
)


def _contract(directory: Path) -> Contract:
    result = load_contract(directory)
    assert result.valid
    return result.contract


def alert_files(contract: Contract, env: str, target: str) -> dict[str, str]:
    """``rules/<service>.yaml`` and ``tests/<service>.yaml`` for ``target``, as promtool reads them."""
    files = render(contract, env, target)
    if target == "prometheus":
        return {name: text for name, text in files.items() if name.startswith(("rules/", "tests/"))}
    site = Site(contract, compile_plan(contract, env), RenderOptions())
    out: dict[str, str] = {}
    for name, text in files.items():
        if not name.startswith("services/"):
            continue
        objects: list[dict[str, Any]] = [d for d in yaml.safe_load_all(text) if d]
        rules = [o for o in objects if o["kind"] == "PrometheusRule"]
        if not rules:
            continue
        service = rules[0]["metadata"]["labels"]["frontdoor.dev/service"]
        (group,) = rules[0]["spec"]["groups"]
        slo = contract.services[service].spec.slo
        assert slo is not None
        metrics = KUBERNETES[target].slo_metrics(site, objects)
        out[f"rules/{service}.yaml"] = yaml.safe_dump({"groups": [group]})
        out[f"tests/{service}.yaml"] = yaml.safe_dump(
            unit_tests(f"../rules/{service}.yaml", service, group, metrics, slo), width=1000
        )
    return out


def write(root: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return sorted(files)


def promtool(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PROMTOOL, *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def passes(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def check_and_test(root: Path, files: dict[str, str]) -> list[subprocess.Popen[str]]:
    """promtool check rules, then test rules, started (the caller waits: targets run side by side)."""
    names = write(root, files)
    rules = [n for n in names if n.startswith("rules/")]
    tests = [n for n in names if n.startswith("tests/")]
    assert rules and len(rules) == len(tests)
    code, output = passes(promtool(root, "check", "rules", *rules))
    assert code == 0, output
    return [promtool(root, "test", "rules", *tests)]


@pytest.fixture(scope="module")
def fifty(tmp_path_factory: pytest.TempPathFactory) -> Contract:
    root = tmp_path_factory.mktemp("fifty") / "contract"
    generate(root, services=50, routes_per_service=3, teams=10)
    return _contract(root)


@pytest.mark.parametrize("target", TARGETS)
def test_the_examples_alerts_fire_when_the_slo_burns_and_only_then(target: str, tmp_path: Path) -> None:
    files = alert_files(_contract(SHOP), "prod", target)
    assert len([n for n in files if n.startswith("tests/")]) == 3  # orders, catalog, payments
    (test,) = check_and_test(tmp_path, files)
    code, output = passes(test)
    assert code == 0, output
    assert output.count("SUCCESS") == 3


def test_the_alerts_of_fifty_services_fire_when_their_slo_burns(fifty: Contract, tmp_path: Path) -> None:
    running = {}
    for target in TARGETS:
        files = alert_files(fifty, "prod", target)
        assert len([n for n in files if n.startswith("tests/")]) == 45  # every public service has an slo
        (running[target],) = check_and_test(tmp_path / target, files)
    for target, process in running.items():
        code, output = passes(process)
        assert code == 0, f"{target}: {output[-3000:]}"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('service="orders"', 'service="order"'),  # a selector that matches nothing the edge exports
        ("> 0.3", "> 0.34"),  # a p99 threshold off by a bucket's width
        ("(14.4 * 0.001)", "(9 * 0.001)"),  # a page that fires on a ticket's burn
        ("severity: critical", "severity: warning"),  # the wrong label: the wrong receiver
    ],
)
def test_a_wrong_rule_fails_its_unit_tests(old: str, new: str, tmp_path: Path) -> None:
    files = alert_files(_contract(SHOP), "prod", "prometheus")
    assert old in files["rules/orders.yaml"]
    files["rules/orders.yaml"] = files["rules/orders.yaml"].replace(old, new)
    (test,) = check_and_test(tmp_path, files)
    code, output = passes(test)
    assert code != 0 and "FAILED" in output


# --- the rules against the controllers' real series (fixtures/controller_metrics.yaml) ---------------

_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_SERIES_NAME = re.compile(r"\b(?:envoy|nginx_ingress_controller|traefik)_[a-zA-Z0-9_]*")


def selectors(promql: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Each ``metric{matchers}`` of an expression, its matchers as (label, operator, value)."""
    found = []
    for name, body in _SELECTOR.findall(promql):
        matchers = _MATCHER.findall(body)
        assert len(matchers) == body.count('"') // 2, body  # every matcher read
        found.append((name, matchers))
    return found


def bare_series(promql: str) -> list[str]:
    """Series named without a selector (they would select every object's): none expected."""
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', "", _SELECTOR.sub("", promql))
    return _SERIES_NAME.findall(outside)


def real_names(target: str, objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The values a selector of this service's alert must match: the names the controller gives the
    objects rendered beside the rule (Envoy Gateway's cluster per HTTPRoute rule, the Ingress names)."""
    namespace = RenderOptions().namespace
    if target == "gateway-api":
        pattern = CONTROLLERS[target]["cluster_name"]
        clusters = {
            pattern.format(namespace=namespace, route=o["metadata"]["name"], rule=index)
            for o in objects
            if o["kind"] == "HTTPRoute"
            for index in range(len(o["spec"]["rules"]))
        }
        return {"envoy_cluster_name": clusters}
    if target == "traefik":
        pattern = CONTROLLERS[target]["service_name"]
        services = {
            pattern.format(
                namespace=namespace,
                route=o["metadata"]["name"],
                hash=hashlib.sha256(route["match"].encode()).hexdigest()[:10],
            )
            for o in objects
            if o["kind"] == "IngressRoute"
            for route in o["spec"]["routes"]
            if route.get("services")
        }
        return {"service": services}
    ingresses = {o["metadata"]["name"] for o in objects if o["kind"] == "Ingress"}
    return {"ingress": ingresses, "namespace": {namespace}}


def unknown_series(target: str, promql: str, objects: list[dict[str, Any]]) -> list[str]:
    """What ``promql`` asks of ``target``'s controller that the controller does not export."""
    known: dict[str, list[str]] = CONTROLLERS[target]["metrics"]
    renames: dict[str, str] = {v: k for k, v in CONTROLLERS[target].get("scrape_renames", {}).items()}
    patterns: dict[str, str] = CONTROLLERS[target].get("values", {})
    names = real_names(target, objects)
    wrong: list[str] = [f"series {name} without a selector" for name in bare_series(promql)]
    used: set[str] = set()
    for metric, matchers in selectors(promql):
        if metric not in known:
            wrong.append(f"series {metric}")
            continue
        used.update(known[metric])
        for label, operator, value in matchers:
            real = renames.get(label, label)
            if real not in known[metric]:
                wrong.append(f"label {label} of {metric}")
            elif real in names and operator == "=" and value not in names[real]:
                wrong.append(f"{label}={value!r}: no object rendered here is named so")
            elif real in names and operator == "=~":
                missed = [n for n in names[real] if not re.fullmatch(value, n)]
                if missed:
                    wrong.append(f"{label}=~{value!r} misses {missed}")
            elif real in patterns and operator == "=" and not re.fullmatch(patterns[real], value):
                wrong.append(f"{label}={value!r}: not a value the controller gives it")
            elif (
                real in patterns
                and operator == "=~"
                and not any(re.fullmatch(value, example) for example in _examples(patterns[real]))
            ):
                wrong.append(f"{label}=~{value!r}: matches no value the controller gives it")
    for grouping in _GROUPING.findall(promql):
        for label in (part.strip() for part in grouping.split(",") if part.strip()):
            if label not in used:
                wrong.append(f"grouping by {label}")
    return wrong


def _examples(pattern: str) -> list[str]:
    """Values of a label's pattern in the fixture, enough to tell a class selector from a code one."""
    candidates = [
        "1",
        "2",
        "4",
        "5",
        "200",
        "204",
        "404",
        "429",
        "500",
        "503",
        "2xx",
        "4xx",
        "5xx",
        "GET",
        "http",
    ]
    return [c for c in candidates if re.fullmatch(pattern, c)]


def rendered_rules(contract: Contract, target: str) -> list[tuple[str, list[str], list[dict[str, Any]]]]:
    """(service, every expression of its PrometheusRule and the series its unit tests feed it, the
    objects rendered beside it) for each service with an slo."""
    site = Site(contract, compile_plan(contract, "prod"), RenderOptions())
    out = []
    for name, text in render(contract, "prod", target).items():
        objects: list[dict[str, Any]] = (
            [d for d in yaml.safe_load_all(text) if d] if name.startswith("services/") else []
        )
        rules = [o for o in objects if o["kind"] == "PrometheusRule"]
        if not rules:
            continue
        expressions = [r["expr"] for group in rules[0]["spec"]["groups"] for r in group["rules"]]
        metrics = KUBERNETES[target].slo_metrics(site, objects)
        expressions += [metrics.sample_ok, metrics.sample_error, metrics.sample_bucket]
        out.append((rules[0]["metadata"]["labels"]["frontdoor.dev/service"], expressions, objects))
    return out


@pytest.mark.parametrize("target", list(KUBERNETES))
def test_the_rules_use_only_series_the_controller_really_exports(target: str, fifty: Contract) -> None:
    """Names and labels from the controllers' own sources, not from the target that renders the rules:
    each selector names a real series with real labels (as the scrape stores them), and selects every
    object rendered for the service (each HTTPRoute rule's Envoy cluster, each Ingress)."""
    for contract in (_contract(SHOP), fifty):
        rendered = rendered_rules(contract, target)
        assert rendered
        for service, expressions, objects in rendered:
            for promql in expressions:
                assert not unknown_series(target, promql, objects), (service, promql)


def test_the_check_against_the_controllers_series_fails_a_wrong_name() -> None:
    """What the check above must refuse: a series Envoy does not export, a label the scrape does not
    store, a class label given a code, and a cluster pattern that misses a rule of the route."""
    routes = [{"kind": "HTTPRoute", "metadata": {"name": "orders"}, "spec": {"rules": [{}, {}]}}]
    ingresses = [{"kind": "Ingress", "metadata": {"name": "orders"}}]
    good = 'envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"httproute/frontdoor/(orders)/rule/[0-9]+",envoy_response_code_class="5"}'
    assert unknown_series("gateway-api", f"sum by (le) (rate({good}[5m]))", routes) == ["grouping by le"]
    assert not unknown_series("gateway-api", f"sum(rate({good}[5m]))", routes)
    for wrong in (
        good.replace("upstream_rq_xx", "upstream_rq_5xx"),  # before tag extraction: not exported
        good.replace("envoy_cluster_name", "cluster_name"),
        good.replace('class="5"', 'class="503"'),
        good.replace("rule/[0-9]+", "rule/0"),  # the route's second rule unwatched
        good.replace("upstream_rq_xx{", "upstream_rq_xx_total{"),
    ):
        assert unknown_series("gateway-api", wrong, routes), wrong
    nginx = (
        'nginx_ingress_controller_requests{exported_namespace="frontdoor",ingress=~"(orders)",status=~"5.."}'
    )
    assert not unknown_series("ingress-nginx", nginx, ingresses)
    for wrong in (
        nginx.replace("exported_namespace", "ingress_namespace"),
        nginx.replace('exported_namespace="frontdoor"', 'exported_namespace="default"'),
        nginx.replace("_requests{", "_requests_total{"),
        nginx.replace('status=~"5.."', 'status=~"5\\d\\d\\d"'),
        "rate(nginx_ingress_controller_requests[5m])",  # a bare name is checked too: not silently skipped
    ):
        assert unknown_series("ingress-nginx", wrong, ingresses), wrong
