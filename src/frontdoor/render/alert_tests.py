"""Unit tests of a service's SLO alerts for ``promtool test rules``, generated from the same ``slo``
as the rules (alerts.py), fed the series the edge really exports (``SloMetrics.sample_*``).

Scenarios of 40 minutes of one-minute samples each, checked at 30 minutes: the traffic of each is
steady, so a rate over any window (the ticket's 6h ones extrapolate the half hour there is) is the
scenario's rate, and the longest ``for`` (10m) has passed. Hours of samples would prove nothing
more and cost promtool minutes on a 50-service contract.

- healthy: errors at half the error budget, p99 at 0.9 of its target: no alert;
- burning 10x and 20x: errors at 10 and 20 times the budget (capped at every request): each burn
  alert whose factor (14.4x page, 6x ticket) the burn exceeds fires, with its labels and annotations,
  the others stay quiet, and so does the latency alert;
- slow: no errors, p99 at 1.1 of its target: the latency alert fires, the availability ones do not.

So each threshold is pinned between two scenarios (the page's between 10x and 20x, the p99's between
0.9 and 1.1 of the target), and a selector that matches nothing the edge exports, a wrong unit or a
missing label fails too: what `promtool check rules` alone cannot show.
"""

from __future__ import annotations

from typing import Any

from frontdoor.contract.models_service import Slo
from frontdoor.render.alerts import BURN, SloMetrics, burn_alert

PER_MINUTE = 600  # requests a minute in every scenario
MINUTES = 40  # samples beyond EVAL_AT
EVAL_AT = "30m"
BURNS = (10, 20)  # error budget burn rates tried: between the ticket's 6x and the page's 14.4x, and above


def unit_tests(
    rule_file: str, service: str, group: dict[str, Any], metrics: SloMetrics, slo: Slo
) -> dict[str, Any]:
    """A promtool test file for ``group`` (the rules of ``service``, kept in ``rule_file``)."""
    rules = {rule["alert"]: rule for rule in group["rules"]}
    availability = [name for name, rule in rules.items() if rule["labels"]["slo"] == "availability"]
    latency = [name for name, rule in rules.items() if rule["labels"]["slo"] == "latency"]
    budget = round(1 - slo.availability / 100, 10) if slo.availability is not None else 0.0
    target = slo.latency_p99_ms / 1000 / metrics.latency_unit if slo.latency_p99_ms is not None else 0.0
    tests = [_scenario(f"{service}: healthy traffic raises no alert", metrics, budget / 2, target, rules, [])]
    for burn in BURNS if availability else ():
        ratio = min(1.0, burn * budget)
        firing = [burn_alert(service, kind) for kind, factor, *_ in BURN if ratio > factor * budget]
        tests.append(
            _scenario(
                f"{service}: errors at {ratio:g} of requests burn the {budget:g} error budget",
                metrics,
                ratio,
                target,
                rules,
                firing,
            )
        )
    if latency:
        tests.append(
            _scenario(
                f"{service}: requests slower than {slo.latency_p99_ms} ms raise the latency alert",
                metrics,
                0.0,
                target,
                rules,
                latency,
                slow=True,
            )
        )
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def _scenario(
    name: str,
    metrics: SloMetrics,
    error_ratio: float,
    target: float,
    rules: dict[str, dict[str, Any]],
    firing: list[str],
    *,
    slow: bool = False,
) -> dict[str, Any]:
    errors = PER_MINUTE * error_ratio
    ok = PER_MINUTE if metrics.total_counts_errors else PER_MINUTE - errors
    series = [_counter(metrics.sample_ok, ok), _counter(metrics.sample_error, errors)]
    if target:
        # buckets at 0.9 and 1.1 of the target, and +Inf: fast requests fill the first, slow ones the
        # second, so that p99 (interpolated in its bucket) is just under or just over the target
        fast, slower = target * 0.9, target * 1.1
        series += [
            _counter(_with_le(metrics.sample_bucket, f"{fast:g}"), 0 if slow else PER_MINUTE),
            _counter(_with_le(metrics.sample_bucket, f"{slower:g}"), PER_MINUTE),
            _counter(_with_le(metrics.sample_bucket, "+Inf"), PER_MINUTE),
        ]
    checks = [
        {
            "eval_time": EVAL_AT,
            "alertname": alert,
            "exp_alerts": (
                [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]
                if alert in firing
                else []
            ),
        }
        for alert, rule in rules.items()
    ]
    return {"name": name, "interval": "1m", "input_series": series, "alert_rule_test": checks}


def _counter(series: str, per_minute: float) -> dict[str, str]:
    return {"series": series, "values": f"0+{per_minute:g}x{MINUTES}"}


def _with_le(series: str, bound: str) -> str:
    assert series.endswith("}"), series
    return f'{series[:-1]},le="{bound}"}}'
