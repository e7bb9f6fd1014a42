"""The Grafana dashboards (render/grafana.py): one per team and one edge overview, read back through
the SDK's own types (a query the SDK cannot type as a Prometheus query fails), every query naming
only series a running ``frontdoor serve`` really exports (read from its live ``/metrics``) or, on
Kubernetes, the controller's series the alerts use, every expression valid PromQL (``promtool check
rules`` parses it), and the Kubernetes targets shipping them as Grafana sidecar ConfigMaps."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from bench.contract_scale import generate
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel
from grafana_foundation_sdk.models.prometheus import Dataquery
from prometheus_client.parser import text_string_to_metric_families

from frontdoor.contract.load import Contract, load_contract
from frontdoor.plan import compile_plan
from frontdoor.render import RenderOptions, render
from frontdoor.render.context import Site
from frontdoor.render.grafana import SIDECAR_LABEL

from .conftest import SHOP
from .harness import Upstreams
from .prometheus import busy_gateway, busy_spec, make_traffic
from .test_alert_rules import PROMTOOL, unknown_series

#: a metric name right before its selector: every query names its series as `name{...}`
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
KUBERNETES = ("gateway-api", "ingress-nginx", "traefik")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every sample name on a busy serve's live /metrics (``_total``, ``_bucket``... included)."""
    tmp_path = tmp_path_factory.mktemp("grafana-serve")
    pool = Upstreams()
    spec = busy_spec(pool, tmp_path)
    gateway = busy_gateway(spec, tmp_path)
    try:
        make_traffic(spec, gateway)
        status, body = gateway.admin("/metrics", token="")
    finally:
        gateway.stop()
        pool.close()
    assert status == 200
    return {s.name for f in text_string_to_metric_families(body.decode()) for s in f.samples}


def _contract(directory: Path) -> Contract:
    result = load_contract(directory)
    assert result.valid
    return result.contract


def typed(text: str) -> Dashboard:
    """The dashboard as the SDK's types, and every query as the SDK's Prometheus query."""
    register_default_plugins()
    return Dashboard.from_json(json.loads(text))


def queries(dashboard: Dashboard) -> Iterator[tuple[str, Dataquery]]:
    for panel in dashboard.panels or []:
        inner = panel.panels if isinstance(panel, RowPanel) else [panel]
        for item in inner:
            assert isinstance(item, Panel)
            for target in item.targets or []:
                assert isinstance(target, Dataquery), f"{item.title}: not a Prometheus query: {target}"
                yield str(item.title), target


def grafana_files(contract: Contract, target: str) -> dict[str, str]:
    """``name.json`` -> dashboard JSON, from files (grafana) or from the sidecar ConfigMaps."""
    files = render(contract, "prod", target)
    if target == "grafana":
        return {name.removeprefix("dashboards/"): text for name, text in files.items()}
    maps = list(yaml.safe_load_all(files["grafana-dashboards.yaml"]))
    assert "grafana-dashboards.yaml" in yaml.safe_load(files["kustomization.yaml"])["resources"]
    out: dict[str, str] = {}
    for config_map in maps:
        assert config_map["kind"] == "ConfigMap"
        assert config_map["metadata"]["labels"][SIDECAR_LABEL] == "1"
        out.update(config_map["data"])
    return out


def controller_series(contract: Contract, target: str) -> set[str]:
    """The controller's series the alerts of ``target`` read (proven by tests/test_alert_rules.py)."""
    files = render(contract, "prod", target)
    names: set[str] = set()
    for name, text in files.items():
        if name.startswith("services/"):
            for rule in (d for d in yaml.safe_load_all(text) if d and d["kind"] == "PrometheusRule"):
                for alert in rule["spec"]["groups"][0]["rules"]:
                    names |= set(SELECTOR.findall(alert["expr"]))
    return names


@pytest.mark.parametrize("target", ["grafana", *KUBERNETES])
def test_every_team_has_a_dashboard_whose_queries_name_exported_series(
    target: str, exported: set[str], tmp_path: Path
) -> None:
    contract = _contract(SHOP)
    boards = grafana_files(contract, target)
    assert set(boards) == {"overview.json", "team-shop-app.json", "team-payments-app.json"}
    known = exported | (controller_series(contract, target) if target != "grafana" else set())
    expressions: list[str] = []
    uids = set()
    for name, text in sorted(boards.items()):
        dashboard = typed(text)
        uids.add(dashboard.uid)
        found = list(queries(dashboard))
        assert found, name
        for title, query in found:
            names = set(SELECTOR.findall(query.expr))
            assert names, f"{name} / {title}: {query.expr}"
            assert names <= known, f"{name} / {title} asks for {sorted(names - known)}, never exported"
            controller = target in KUBERNETES and "frontdoor_" not in query.expr
            if controller:  # a query of the controller's series: checked by the controller's own sources
                wrong = unknown_series(target, query.expr, [])
                assert not wrong, f"{name} / {title}: {wrong}"
            expressions.append(query.expr)
    assert len(uids) == len(boards)
    # each service's row is in its team's board: services, routes, denials, limits and SLO burn
    shop = typed(boards["team-shop-app.json"])
    rows = [p.title for p in shop.panels or [] if isinstance(p, RowPanel)]
    assert rows == ["account", "catalog", "orders"]
    titles = {title for title, _ in queries(shop)}
    assert {"Requests by route", "Denials by kind and rule", "Rate limited, shed, upstream errors"} <= titles
    assert {"Error budget burn (99.9% SLO)", "p99 against the 300 ms SLO"} <= titles
    # on Kubernetes the controller's count too: what gateway-api's native access never sends the authz
    assert ("Requests and 5xx at the controller" in titles) == (target != "grafana")
    # and every expression is PromQL Prometheus accepts (Grafana's $__rate_interval as Prometheus sees it)
    rules = [
        {"record": f"frontdoor:dashboard:{i}", "expr": e.replace("$__rate_interval", "1m")}
        for i, e in enumerate(expressions)
    ]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})
    )
    check = subprocess.run(
        [PROMTOOL, "check", "rules", "queries.yaml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_query_for_a_series_serve_does_not_export_is_caught(exported: set[str]) -> None:
    text = grafana_files(_contract(SHOP), "grafana")["overview.json"]
    wrong = text.replace("frontdoor_shed_total", "frontdoor_shedded_total")
    names = {n for _, q in queries(typed(wrong)) for n in SELECTOR.findall(q.expr)}
    assert names - exported == {"frontdoor_shedded_total"}


def test_fifty_services_get_a_dashboard_per_team(tmp_path: Path) -> None:
    root = tmp_path / "contract"
    generate(root, services=50, routes_per_service=3, teams=10)
    contract = _contract(root)
    site = Site(contract, compile_plan(contract, "prod"), RenderOptions())
    owners = {site.plan.service_owners[service] for service in site.exposed_services()}
    boards = grafana_files(contract, "grafana")
    assert set(boards) == {"overview.json"} | {f"team-{team}.json" for team in owners}
    for text in boards.values():
        assert list(queries(typed(text)))
