"""Grafana dashboards, built with Grafana's own SDK (``grafana-foundation-sdk``): one per team that
owns exposed services (a row per service: its routes' requests, errors, p99, denials, limits and SLO
burn) and one for the whole edge (traffic by team, unmatched requests, stops, circuits, reloads).

The route-level panels read frontdoor's own series (docs/operations.md#metrics): ``frontdoor serve``
exports them for every request, ``frontdoor authz`` for every check the edge controller asks. The
SLO panels read the same series as the alerts (``SloMetrics``: the controller's on Kubernetes,
frontdoor's for serve), so a dashboard shows what the alerts see.

Every panel asks the data source the dashboard's ``datasource`` variable names (any Prometheus).
Output is deterministic: sorted keys, panels and ids in contract order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueGraphMode, LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

from frontdoor.render.alerts import BURN, SloMetrics, error_ratio
from frontdoor.render.context import RenderError, Site
from frontdoor.render.labels import labels, obj

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "[$__rate_interval]"
UID_MAX = 40  # Grafana's limit on a dashboard uid
REQUESTS, DENIED = "frontdoor_requests_total", "frontdoor_denied_total"
DURATION = "frontdoor_request_duration_seconds_bucket"
CONFIGMAP_MAX = 1024 * 1024  # the API server refuses a ConfigMap over 1 MiB
SIDECAR_LABEL = "grafana_dashboard"  # what the Grafana sidecar looks for on ConfigMaps


def dashboards(site: Site, slo_metrics: Callable[[str], SloMetrics]) -> dict[str, str]:
    """``<name>.json`` per team that owns exposed services, and ``overview.json``; ``slo_metrics``
    gives the alerts' series of a service at this edge."""
    teams: dict[str, list[str]] = {}
    for service in site.exposed_services():
        teams.setdefault(site.plan.service_owners[service], []).append(service)
    out = {"overview.json": _dump(_overview(site, sorted(teams)))}
    for team, services in sorted(teams.items()):
        out[f"team-{team}.json"] = _dump(_team(site, team, services, slo_metrics))
    return out


def _dump(dashboard: Dashboard) -> str:
    built = dashboard.build()
    # the builders leave every id 0: Grafana keys a panel's state and links by it, so number them
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return json.dumps(built, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def _uid(*parts: str) -> str:
    uid = "-".join(("frontdoor", *parts))
    if len(uid) <= UID_MAX:
        return uid
    return uid[: UID_MAX - 9] + "-" + hashlib.sha256(uid.encode()).hexdigest()[:8]


def _base(site: Site, title: str, uid: str, tags: list[str]) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .tags(["frontdoor", site.environment, *tags])
        .time("now-3h", "now")
        .refresh("30s")
        .readonly()
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )


def _query(expr: str, legend: str) -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE)


def _series(title: str, unit: str, *queries: Dataquery, width: int = 8) -> TimeSeries:
    legend = (
        VizLegendOptions()
        .display_mode(LegendDisplayMode.LIST)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
    )
    panel = TimeSeries().title(title).unit(unit).datasource(DATASOURCE).span(width).height(8).legend(legend)
    for letter, query in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(query.ref_id(letter))
    return panel


def _line_at(*values: float) -> ThresholdsConfig:
    steps = [Threshold(value=None, color="green")]
    steps += [Threshold(value=v, color=c) for v, c in zip(values, ("orange", "red"), strict=False)]
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def _per_second(metric: str, selector: str = "") -> str:
    return f"rate({metric}{{{selector}}}{RATE})"


def _rate(metric: str, selector: str = "", by: str = "") -> str:
    """``sum [by (...)] (rate(metric{selector}[$__rate_interval]))``."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} ({_per_second(metric, selector)})"


def _p99(selector: str, by: str) -> str:
    return f"histogram_quantile(0.99, sum by (le, {by}) ({_per_second(DURATION, selector)}))"


def _team(site: Site, team: str, services: list[str], slo_metrics: Callable[[str], SloMetrics]) -> Dashboard:
    oncall = site.team(team)
    primary = oncall.spec.oncall.primary if oncall is not None and oncall.spec.oncall is not None else ""
    board = _base(site, f"frontdoor / {team} ({site.environment})", _uid(site.environment, team), [team])
    on_call = primary or "none"
    board = board.description(f"{team}'s services at the {site.environment} edge; on-call: {on_call}")
    for service in services:
        board = _service_row(site, board, service, slo_metrics(service))
    return board


def _service_row(site: Site, board: Dashboard, service: str, metrics: SloMetrics) -> Dashboard:
    at = f'service="{service}"'
    by_route = _query(_rate(REQUESTS, at, "route, path"), "{{route}} {{path}}")
    denials = _query(_rate(DENIED, at, "kind, rule"), "{{kind}} {{rule}}")
    panels = [
        _series("Requests by route", "reqps", by_route),
        _series("Answers by status class", "reqps", _query(_rate(REQUESTS, at, "code"), "{{code}}")),
        _series("p99 by route", "s", _query(_p99(at, "route"), "{{route}}")),
        _series("Denials by kind and rule", "reqps", denials),
        _series(
            "Rate limited, shed, upstream errors",
            "reqps",
            _query(_rate("frontdoor_rate_limited_total", at), "rate limited"),
            _query(_rate("frontdoor_shed_total", at), "shed"),
            _query(_rate("frontdoor_upstream_errors_total", at, "kind"), "upstream {{kind}}"),
        ),
    ]
    if not metrics.requests.startswith("frontdoor_"):
        # the controller's own count of every request to the service: on gateway-api with --auth native
        # and no admin, public and JWT routes never reach the authz, and the panels above stay empty
        panels.append(
            _series(
                "Requests and 5xx at the controller",
                "reqps",
                _query(f"sum(rate({metrics.requests}{RATE}))", "requests"),
                _query(f"sum(rate({metrics.errors}{RATE})) or vector(0)", "5xx"),
            )
        )
    slo = site.service(service).spec.slo
    if slo is not None and slo.availability is not None:
        budget = round(1 - slo.availability / 100, 10)
        # the burn rate the alerts compare with their factors: 1 spends the budget in exactly the month
        burns = [
            _query(f"({error_ratio(metrics, w)}) / {budget:g}", f"burn over {w}") for *_, w, _, _ in BURN
        ]
        title = f"Error budget burn ({slo.availability:g}% SLO)"
        panels.append(_series(title, "x", *burns).thresholds(_line_at(*sorted(f for _, f, *_ in BURN))))
    if slo is not None and slo.latency_p99_ms is not None:
        # the alert's expression, in seconds whatever the histogram's unit
        p99 = f"histogram_quantile(0.99, sum by (le) (rate({metrics.latency_bucket}[5m])))"
        p99 += f" * {metrics.latency_unit:g}"
        title = f"p99 against the {slo.latency_p99_ms} ms SLO"
        panels.append(_series(title, "s", _query(p99, "p99")).thresholds(_line_at(slo.latency_p99_ms / 1000)))
    board = board.with_row(Row(service))
    for panel in panels:
        board = board.with_panel(panel)
    return board


def _overview(site: Site, teams: list[str]) -> Dashboard:
    title = f"frontdoor / edge overview ({site.environment})"
    board = _base(site, title, _uid(site.environment, "overview"), [])
    board = board.description(f"Every team's traffic at the {site.environment} edge: {', '.join(teams)}")
    failed = _rate(REQUESTS, 'code="5xx"', "owner")
    errors = f"{failed} / {_rate(REQUESTS, '', 'owner')}"
    latency = _p99("", "owner")
    circuits = _query("count by (service) (frontdoor_circuit_state{} == 2)", "{{service}}")
    reloads = _query(f"sum by (result) (increase(frontdoor_contract_reloads_total{{}}{RATE}))", "{{result}}")
    unmatched = _rate(REQUESTS, 'route="unmatched"', "code")
    stopped = (
        Stat()
        .title("Stopped services and routes")
        .datasource(DATASOURCE)
        .span(6)
        .height(8)
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(_query("sum by (kind) (frontdoor_stopped{})", "{{kind}}").ref_id("A"))
        .thresholds(_line_at(1))
    )
    rows: list[tuple[str, list[Any]]] = [
        (
            "Traffic by team",
            [
                _series("Requests by team", "reqps", _query(_rate(REQUESTS, "", "owner"), "{{owner}}")),
                _series("5xx ratio by team", "percentunit", _query(errors, "{{owner}}")),
                _series("p99 by team", "s", _query(latency, "{{owner}}")),
            ],
        ),
        (
            "Refused and unmatched",
            [
                _series("Denials by kind", "reqps", _query(_rate(DENIED, "", "kind"), "{{kind}}")),
                _series(
                    "Rate limited and shed by team",
                    "reqps",
                    _query(_rate("frontdoor_rate_limited_total", "", "owner"), "limited {{owner}}"),
                    _query(_rate("frontdoor_shed_total", "", "owner"), "shed {{owner}}"),
                ),
                _series("Unmatched requests (platform team)", "reqps", _query(unmatched, "{{code}}")),
            ],
        ),
        (
            "Operations",
            [
                stopped,
                _series("Open circuits", "short", circuits, width=6),
                _series("Contract reloads", "short", reloads, width=6),
                _series("Workers", "short", _query("sum(frontdoor_workers{})", "workers"), width=6),
            ],
        ),
    ]
    for title, panels in rows:
        board = board.with_row(Row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board


def render_grafana(site: Site) -> dict[str, str]:
    """Target ``grafana``: the dashboards as files, for a Grafana that is not on Kubernetes (import
    them, or point file provisioning at the directory), over ``frontdoor serve``'s series."""
    from frontdoor.render.alerts import frontdoor_metrics

    boards = dashboards(site, lambda service: frontdoor_metrics(site, service))
    return {f"dashboards/{name}": text for name, text in boards.items()}


def config_maps(site: Site, slo_metrics: Callable[[str], SloMetrics]) -> list[dict[str, Any]]:
    """The dashboards as ConfigMaps labelled ``grafana_dashboard: "1"``, which the Grafana sidecar
    (kube-prometheus-stack, the Grafana Helm chart) loads from every namespace it watches."""
    out = []
    for name, text in dashboards(site, slo_metrics).items():
        if len(text.encode()) > CONFIGMAP_MAX:
            raise RenderError(
                f"the dashboard {name} is {len(text.encode())} bytes; a ConfigMap holds at most 1 MiB: "
                "render --target grafana and provision it from files instead"
            )
        stem = name.removesuffix(".json")
        team = stem.removeprefix("team-") if stem.startswith("team-") else site.platform_team
        object_labels = labels(site.environment, team) | {SIDECAR_LABEL: "1"}
        out.append(
            obj(
                "v1",
                "ConfigMap",
                site.names.name("ConfigMap", "grafana", stem),
                object_labels,
                data={name: text},
            )
        )
    return out
