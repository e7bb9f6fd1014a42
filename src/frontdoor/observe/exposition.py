"""The Prometheus exposition of the deployment's metrics: every live worker's snapshot merged
(observe/metrics.py) and turned into metric families at each scrape, so any worker answers a scrape
for the whole deployment and no prometheus_client call is made per request.

The families, their labels and their meaning are listed in docs/operations.md (a test has a real
Prometheus scrape a busy gateway and checks each against that table).
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from frontdoor import __version__
from frontdoor.observe.metrics import RATE_LIMIT_KINDS, SHED_KINDS, deployment, method_label
from frontdoor.observe.traffic import BUCKETS


class MergedCollector:
    """A prometheus_client collector over the merged snapshots, built at each scrape."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            InfoMetricFamily,
        )

        merged = deployment(self.directory)
        route = ["route", "path", "service", "owner"]
        requests = CounterMetricFamily(
            "frontdoor_requests",
            "Requests answered, by route and status class",
            labels=[*route, "method", "code", "protocol"],
        )
        latency = HistogramMetricFamily(
            "frontdoor_request_duration_seconds",
            "Time from the request head to the response end",
            labels=route,
        )
        upstream = CounterMetricFamily(
            "frontdoor_upstream_errors",
            "Upstream failures the gateway answered itself",
            labels=[*route, "kind"],
        )
        denied = CounterMetricFamily(
            "frontdoor_denied",
            "Requests a policy stage denied, by kind and rule",
            labels=[*route, "kind", "rule"],
        )
        limited = CounterMetricFamily(
            "frontdoor_rate_limited", "Requests refused by a rate limit", labels=["service", "owner"]
        )
        shed = CounterMetricFamily(
            "frontdoor_shed", "Requests shed by load shedding or an open circuit", labels=["service", "owner"]
        )
        limited_by: dict[tuple[str, str], int] = {}
        shed_by: dict[tuple[str, str], int] = {}
        for key, stat in sorted(merged.totals.items()):
            labels = list(key)
            for (method, status_class, version), count in sorted(stat.codes.items()):
                protocol = f"HTTP/{version}" if version else ""  # "": a label Prometheus leaves out
                requests.add_metric([*labels, method_label(method), f"{status_class}xx", protocol], count)
            cumulative = 0
            buckets = []
            for bound, count in zip(BUCKETS, stat.hist, strict=False):
                cumulative += count
                buckets.append((repr(bound), cumulative))
            buckets.append(("+Inf", cumulative + stat.hist[-1]))
            latency.add_metric(labels, buckets, stat.sum)
            for kind, count in sorted(stat.upstream.items()):
                upstream.add_metric([*labels, kind], count)
            for (kind, rule), count in sorted(stat.denies.items()):
                denied.add_metric([*labels, kind, rule], count)
                if kind in RATE_LIMIT_KINDS:
                    limited_by[key[2:]] = limited_by.get(key[2:], 0) + count
                elif kind in SHED_KINDS:
                    shed_by[key[2:]] = shed_by.get(key[2:], 0) + count
        for (service, owner), count in sorted(limited_by.items()):
            limited.add_metric([service, owner], count)
        for (service, owner), count in sorted(shed_by.items()):
            shed.add_metric([service, owner], count)
        yield from (requests, latency, upstream, denied, limited, shed)

        circuit = GaugeMetricFamily(
            "frontdoor_circuit_state",
            "Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open (the worst of the workers)",
            labels=["service", "endpoint"],
        )
        for (service, endpoint), state in sorted(merged.circuit.items()):
            circuit.add_metric([service, endpoint], state)
        inflight = GaugeMetricFamily(
            "frontdoor_inflight_requests", "Requests being answered now", labels=["service"]
        )
        # every service that has answered a request, at 0 when idle: a series that vanished between
        # requests would leave a graph with gaps and an alert on it without data
        busy = {key[2]: 0 for key in merged.totals if key[2]} | merged.inflight
        for service, count in sorted(busy.items()):
            inflight.add_metric([service], count)
        protection = CounterMetricFamily(
            "frontdoor_protection_events",
            "What traffic protection did: rate_limited, shed, circuit_opened, retry_budget_exhausted, ...",
            labels=["event", "service"],
        )
        for (name, service), count in sorted(merged.protection.items()):
            protection.add_metric([name, service], count)
        signins = CounterMetricFamily(
            "frontdoor_signins",
            "Browser sign-in steps by provider and outcome: started, signed-in, signed-out, or why it failed",
            labels=["provider", "outcome", "owner"],
        )
        for (provider, outcome, owner), count in sorted(merged.signins.items()):
            signins.add_metric([provider, outcome, owner], count)
        events = merged.events
        reloads = CounterMetricFamily(
            "frontdoor_contract_reloads",
            "Contract reloads by result (summed over workers)",
            labels=["result"],
        )
        reloads.add_metric(["success"], events.get("reloads_ok", 0))
        reloads.add_metric(["failure"], events.get("reloads_failed", 0))
        contract = InfoMetricFamily("frontdoor_contract", "The contract being served")
        contract.add_metric(
            [],
            {"hash": str(events.get("contract_hash", "")), "environment": str(events.get("environment", ""))},
        )
        loaded = GaugeMetricFamily(
            "frontdoor_contract_loaded_timestamp_seconds", "When the contract being served was loaded"
        )
        loaded.add_metric([], float(events.get("contract_loaded_at", 0.0)))
        stopped = GaugeMetricFamily(
            "frontdoor_stopped", "Services and routes stopped by an operator", labels=["kind"]
        )
        for kind in ("service", "route"):
            stopped.add_metric([kind], int(events.get("stopped", {}).get(kind, 0)))
        failures = CounterMetricFamily(
            "frontdoor_stop_store_failures",
            "Reads and writes of the stop store that failed (the last stops known kept applying)",
            labels=["store", "operation"],
        )
        for (store, operation), count in sorted(merged.stop_store_failures.items()):
            failures.add_metric([store, operation], count)
        signouts = CounterMetricFamily(
            "frontdoor_signout_store_failures",
            "Reads and writes of the store of signed-out sessions that failed (those known kept applying)",
            labels=["store", "operation"],
        )
        for (store, operation), count in sorted(merged.signout_store_failures.items()):
            signouts.add_metric([store, operation], count)
        workers = GaugeMetricFamily("frontdoor_workers", "Worker processes whose numbers are merged here")
        workers.add_metric([], merged.workers)
        build = InfoMetricFamily("frontdoor_build", "The gateway's version")
        build.add_metric([], {"version": __version__, "python": platform.python_version()})
        yield from (circuit, inflight, protection, signins, reloads, contract, loaded, stopped, failures)
        yield from (signouts, workers, build)


def exposition(directory: Path | None) -> bytes:
    """The Prometheus text format of the deployment's metrics."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MergedCollector(directory))
    return generate_latest(registry)
