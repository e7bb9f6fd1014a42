"""The contract fields that change nothing frontdoor does: written for people, validated, never acted on.

Every other field of the four kinds changes behaviour (serve, authz, check, who, render), and
tests/field_effects.py names the tests that prove it; tests/test_field_coverage.py walks the models
and fails on a field that is in neither list. A field moves from here to there when something starts
reading it.

Paths are the kind, then the field names from the document's top (``Service.spec.description``);
items of lists and maps add nothing to the path. ``*`` stands for every kind.
"""

from __future__ import annotations

from typing import Final

INFORMATIVE: Final[dict[str, str]] = {
    "*.metadata.labels": "free-form labels for your own tooling; rendered objects carry frontdoor's own "
    "labels, never these (they are still scanned for secret literals)",
    "Team.metadata.annotations": "free-form, for your own tooling (scanned for secret literals)",
    "Service.metadata.annotations": "free-form, for your own tooling (scanned for secret literals)",
    "Environment.metadata.annotations": "free-form, for your own tooling (scanned for secret literals)",
    "Service.spec.description": "prose for the reader of the contract; no report or target shows it",
    "Service.spec.health.liveness": "for the service's own orchestrator; the gateway probes readiness "
    "only (a live but unready endpoint gets no traffic either way)",
}
