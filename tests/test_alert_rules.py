"""The SLO alerts proven with a real ``promtool`` (Debian's prometheus package): for every target,
the rules pass ``promtool check rules``, and the unit tests generated from each service's ``slo``
(render/alert_tests.py) pass ``promtool test rules``: each alert fires on a burning error budget or a
slow p99, with its labels and annotations, and stays quiet on healthy traffic. Envoy's series for
gateway-api, ingress-nginx's, Traefik's, and frontdoor's own for serve (target ``prometheus``).

For the Kubernetes targets the rule group is read back from the rendered PrometheusRule, and the
series are the ones the target says its controller exports for the objects rendered beside it.
"""

from __future__ import annotations

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
