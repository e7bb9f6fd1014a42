"""A real Prometheus scraping a running ``frontdoor serve``: every series docs/operations.md names is
stored, with exactly the labels the docs list, every route-level series carries the owner the
contract gives its service (the platform team for unmatched traffic), and the gateway exports no
``frontdoor_*`` family the docs leave out.

The traffic is made so that each family has a sample: a success, an access denial, an unreachable
upstream until its circuit opens (upstream errors, shed), unmatched requests, a sign-in callback
that belongs to no flow, a damaged stop file (a stop-store failure) and a rate limit.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .conftest import ROOT
from .harness import Upstreams
from .prometheus import Prometheus, busy_gateway, busy_spec, make_traffic, upstreams

__all__ = ["upstreams"]  # the fixture

DOCS = ROOT / "docs" / "operations.md"
#: a row of the metrics table: | `name` | type | labels | meaning |
ROW = re.compile(r"^\| `(frontdoor_[a-z_]+)` \| ([a-z ()1]+?) \|([^|]*)\|")
SCRAPED = {"__name__", "job", "instance"}  # what Prometheus adds to what the gateway exports
#: labels the gateway may leave empty, which Prometheus then does not store: the per-service breaker's
#: endpoint, unmatched traffic's path and service, a denial without a contract clause, a sign-in
#: callback that belongs to no flow (so to no provider)
MAY_BE_EMPTY = {"endpoint", "path", "service", "rule", "provider"}
SCRAPE_DEADLINE = 60.0  # the slowest machine's first scrapes; the loop ends as soon as all are there
OWNERS = {"shop": "shop", "other": "shop", "": "edge"}  # the contract of tests/harness.py


def documented() -> dict[str, set[str]]:
    """Each series docs/operations.md names (a histogram's three), with the labels it lists."""
    out: dict[str, set[str]] = {}
    for line in DOCS.read_text().splitlines():
        row = ROW.match(line)
        if row is None:
            continue
        name, kind, labels = row.groups()
        labels = re.sub(r"\([^)]*\)", "", labels)  # "result (`success`, `failure`)": the values
        names = {label.split()[0] for label in labels.split(",") if label.strip()}
        if kind.strip() == "histogram":
            out[f"{name}_bucket"] = names | {"le"}
            out[f"{name}_sum"] = out[f"{name}_count"] = names
        else:
            out[name] = names
    assert len(out) >= 10, "the metrics table of docs/operations.md was not found"
    return out


def test_prometheus_stores_every_documented_series_with_its_owner(
    upstreams: Upstreams, tmp_path: Path
) -> None:
    spec = busy_spec(upstreams, tmp_path)
    gateway = busy_gateway(spec, tmp_path)
    prometheus = None
    try:
        make_traffic(spec, gateway)
        prometheus = Prometheus(tmp_path / "prometheus", [f"127.0.0.1:{spec.admin_port}"])
        expected = documented()
        stored: dict[str, list[dict[str, str]]] = {}
        deadline = time.monotonic() + SCRAPE_DEADLINE
        while time.monotonic() < deadline:
            everything = prometheus.series('{__name__=~"frontdoor_.+"}')
            stored = {}
            for labels in everything:
                stored.setdefault(labels["__name__"], []).append(labels)
            if set(expected) <= set(stored) and prometheus.targets_up():
                break
            time.sleep(0.5)
    finally:
        if prometheus is not None:
            prometheus.stop()
        gateway.stop()

    assert sorted(set(expected) - set(stored)) == [], "documented, never stored"
    assert sorted(set(stored) - set(expected)) == [], "exported, not documented in docs/operations.md"
    for name, series in stored.items():
        for labels in series:
            exported = set(labels) - SCRAPED
            assert exported <= expected[name] and expected[name] - exported <= MAY_BE_EMPTY, (
                f"{name}: {labels}"
            )
            if "owner" in expected[name]:
                assert labels["owner"] == OWNERS[labels.get("service", "")], f"{name}: {labels}"
    # what the traffic did is where its owner's team will look for it
    routes = {(s["route"], s["owner"]) for s in stored["frontdoor_requests_total"]}
    assert {("shop.0", "shop"), ("shop.1", "shop"), ("other.0", "shop"), ("unmatched", "edge")} <= routes
    kinds = {s["kind"] for s in stored["frontdoor_denied_total"]}
    assert {"access", "rate-limit"} <= kinds
