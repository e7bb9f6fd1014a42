"""SLO alerts: a PrometheusRule per service from its ``slo``, labelled with the owning team, and an
Alertmanager route per team that sends that team's alerts to its on-call.

Availability uses multi-window burn rates (the SRE workbook's): burning the month's error budget 14.4
times too fast over both 1h and 5m pages (critical); 6 times over 6h and 30m opens a ticket (warning).
Latency alerts when the 99th percentile stays above the target for 10 minutes (warning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from frontdoor.policy.killswitch import route_id
from frontdoor.render.context import RenderError, Site
from frontdoor.render.labels import labels, obj
from frontdoor.render.naming import dns_label

_LABEL = re.compile(r"^[a-z0-9-]+$")


def names_of(objects: list[dict[str, Any]], kind: str) -> str:
    """The names of ``objects`` of ``kind`` as an exact PromQL alternation: ``(a|b)``."""
    names = sorted({o["metadata"]["name"] for o in objects if o["kind"] == kind})
    # our names are DNS labels, [a-z0-9-]: nothing to escape, in the regexp or the PromQL string
    assert all(_LABEL.match(n) for n in names), names
    return "(" + "|".join(names) + ")"


@dataclass(frozen=True)
class SloMetrics:
    """PromQL for one service at this edge: rates over a window ``[W]`` and a latency histogram."""

    requests: str  # a counter of every request, e.g. 'traefik_service_requests_total{service=~"x"}'
    errors: str  # the same counter restricted to 5xx
    latency_bucket: str  # a histogram's _bucket series, with an ``le`` label
    latency_unit: float  # the histogram's unit in seconds (0.001 for milliseconds)
    # one concrete series of each kind, exactly as the edge exports it, so that generated unit tests
    # (alert_tests.py) feed the rules what the real edge would: a selector that matches nothing real
    # would make an alert that never fires, and only a test with real label values shows it
    sample_ok: str  # selected by ``requests``, not by ``errors``: the successful requests
    sample_error: str  # selected by ``errors`` (and ``requests``, unless total_counts_errors)
    sample_bucket: str  # selected by ``latency_bucket``, without its ``le``
    #: the ok series counts every request, errors included (Envoy's rq_total beside its rq_xx)
    total_counts_errors: bool = False


#: (name, budget burn factor, long window, short window, severity): the SRE workbook's two alerts
BURN = (("page", 14.4, "1h", "5m", "critical"), ("ticket", 6.0, "6h", "30m", "warning"))


def error_ratio(metrics: SloMetrics, window: str) -> str:
    """The share of requests that failed over ``window``, 0 when none did (and when there were none)."""
    return (
        f"(sum(rate({metrics.errors}[{window}])) or vector(0))"
        f" / clamp_min(sum(rate({metrics.requests}[{window}])), 1e-9)"
    )


def prometheus_rule(site: Site, service: str, metrics: SloMetrics) -> dict[str, Any] | None:
    """The service's SLO alerts as a Prometheus Operator PrometheusRule, or None without an ``slo``."""
    group = rule_group(site, service, metrics)
    if group is None:
        return None
    owner = site.plan.service_owners[service]
    return obj(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        site.names.name("PrometheusRule", service, "slo"),
        labels(site.environment, owner, service),
        {"groups": [group]},
    )


def rule_group(site: Site, service: str, metrics: SloMetrics) -> dict[str, Any] | None:
    """The service's SLO alerts as one Prometheus rule group, or None without an ``slo``."""
    slo = site.service(service).spec.slo
    if slo is None or (slo.availability is None and slo.latency_p99_ms is None):
        return None
    owner = site.plan.service_owners[service]
    team = site.team(owner)
    base = {"team": owner, "service": service, "environment": site.environment}
    annotations: dict[str, str] = {}
    if team is not None and team.spec.runbooks is not None:
        annotations["runbook_url"] = str(team.spec.runbooks)
    rules: list[dict[str, Any]] = []
    if slo.availability is not None:
        budget = round(1 - slo.availability / 100, 10)
        for kind, factor, long, short, severity in BURN:
            threshold = f"{factor} * {budget:g}"
            rules.append(
                {
                    "alert": burn_alert(service, kind),
                    "expr": f"({error_ratio(metrics, long)}) > ({threshold})\nand\n"
                    f"({error_ratio(metrics, short)}) > ({threshold})",
                    "for": "2m",
                    "labels": base | {"severity": severity, "slo": "availability"},
                    "annotations": annotations
                    | {
                        "summary": f"{service} is failing requests {factor:g}x faster than its "
                        f"{slo.availability:g}% availability SLO allows ({long}/{short} windows)",
                        "description": f"Owned by {owner}. 5xx ratio at the {site.environment} edge is "
                        f"above {factor:g} times the error budget of {budget:g}.",
                    },
                }
            )
    if slo.latency_p99_ms is not None:
        target = slo.latency_p99_ms / 1000 / metrics.latency_unit
        rules.append(
            {
                "alert": f"{_camel(service)}LatencyP99High",
                "expr": f"histogram_quantile(0.99, sum by (le) (rate({metrics.latency_bucket}[5m])))"
                f" > {target:g}",
                "for": "10m",
                "labels": base | {"severity": "warning", "slo": "latency"},
                "annotations": annotations
                | {
                    "summary": f"{service} p99 latency is above its {slo.latency_p99_ms} ms SLO",
                    "description": f"Owned by {owner}. Measured at the {site.environment} edge over 5m.",
                },
            }
        )
    return {"name": f"frontdoor.{service}.slo", "rules": rules}


def frontdoor_metrics(site: Site, service: str) -> SloMetrics:
    """The series of ``frontdoor serve`` itself (observe/metrics.py), for the edge that is serve."""
    assert _LABEL.match(service), service  # a DNS label: nothing to escape in PromQL
    route = next(r for e in site.plan.entrypoints for r in e.routes if r.service == service)
    owner = site.plan.service_owners[service]
    selector = f'service="{service}"'
    # the labels serve puts on a request of this route (observe/exposition.py)
    path = _escape(str(route.path))
    example = f'route="{route_id(route)}",path="{path}",service="{service}",owner="{owner}"'
    return SloMetrics(
        requests=f"frontdoor_requests_total{{{selector}}}",
        errors=f'frontdoor_requests_total{{{selector},code="5xx"}}',
        latency_bucket=f"frontdoor_request_duration_seconds_bucket{{{selector}}}",
        latency_unit=1.0,
        # one protocol each: the rules must sum over HTTP/1.1 and HTTP/2 (the ``protocol`` label)
        sample_ok=f'frontdoor_requests_total{{{example},method="GET",code="2xx",protocol="HTTP/1.1"}}',
        sample_error=f'frontdoor_requests_total{{{example},method="GET",code="5xx",protocol="HTTP/2"}}',
        sample_bucket=f"frontdoor_request_duration_seconds_bucket{{{example}}}",
    )


def _escape(value: str) -> str:
    """A PromQL / series-notation string's content: a path pattern may hold a quote or a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def first_name(objects: list[dict[str, Any]], kind: str) -> str:
    """The first name ``names_of`` lists: a concrete object for a sample series."""
    return names_of(objects, kind)[1:-1].split("|")[0]


def burn_alert(service: str, kind: str) -> str:
    return f"{_camel(service)}ErrorBudgetBurn{kind.title()}"


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("-"))


def alertmanager_routes(site: Site, teams: list[str]) -> dict[str, dict[str, Any]]:
    """An Alertmanager ``route`` + ``receivers`` snippet per team, to merge into alertmanager.yml."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(teams)):
        team = site.team(name)
        receiver = f"{dns_label(name)}-oncall"
        out[name] = {
            "route": {
                "receiver": receiver,
                "matchers": [f'team="{name}"', f'environment="{site.environment}"'],
                "group_by": ["alertname", "service", "environment"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            },
            "receivers": [{"name": receiver} | _integration(name, team)],
        }
    return out


def _integration(name: str, team: Any) -> dict[str, Any]:
    """Where the team's on-call is reached, from ``oncall.primary`` (then its contact, as a fallback).
    Keys and webhook URLs stay outside the contract: Alertmanager reads them from files."""
    oncall = team.spec.oncall if team is not None else None
    contact = team.spec.contact if team is not None else None
    primary = oncall.primary if oncall is not None else ""
    scheme, _, target = primary.partition(":")
    secrets = "/etc/alertmanager/secrets"
    if scheme == "pagerduty" and target:
        return {
            "pagerduty_configs": [
                {
                    "routing_key_file": f"{secrets}/pagerduty/{target}",
                    "severity": "{{ .CommonLabels.severity }}",
                }
            ]
        }
    if scheme == "opsgenie" and target:
        return {
            "opsgenie_configs": [
                {"api_key_file": f"{secrets}/opsgenie", "responders": [{"name": target, "type": "team"}]}
            ]
        }
    if scheme in ("http", "https"):
        return {"webhook_configs": [{"url": primary}]}
    if scheme == "mailto" or ("@" in primary and " " not in primary):
        return {"email_configs": [{"to": target if scheme == "mailto" else primary}]}
    if scheme == "slack" or primary.startswith("#"):
        return _slack(target if scheme == "slack" else primary)
    if contact is not None and contact.email:
        return {"email_configs": [{"to": contact.email}]}
    if contact is not None and contact.chat and contact.chat.startswith("#"):
        return _slack(contact.chat)
    raise RenderError(
        f"team {name}: on-call {primary!r} is not something Alertmanager can notify; write "
        "pagerduty:KEY, opsgenie:TEAM, mailto:ADDRESS, slack:#CHANNEL or an https:// webhook, "
        "or give the team a contact email"
    )


def _slack(channel: str) -> dict[str, Any]:
    return {
        "slack_configs": [{"channel": channel, "api_url_file": "/etc/alertmanager/secrets/slack-webhook"}]
    }
