"""What each rule id checks, in one sentence: the help text code-scanning UIs show beside a finding.

The ids and their meaning are those of docs/contract.md ("Rules and rule ids", "Production checks");
tests/test_report_formats.py keeps the two in step. A rule id missing here still gets a help text
pointing at that table.
"""

from __future__ import annotations

import os

#: where the docs are published; SARIF wants absolute links. Set FRONTDOOR_DOCS_URL to your copy.
DEFAULT_DOCS_URL = "https://frontdoor.invalid/docs"

RULES: dict[str, str] = {
    "contract-read": "Every file of the contract directory can be read.",
    "contract-empty": "The contract directory holds at least one document.",
    "yaml-syntax": "Every file is valid YAML.",
    "yaml-encoding": "Every file is UTF-8.",
    "yaml-duplicate-key": "No mapping repeats a key.",
    "yaml-key": "Every mapping key is a string.",
    "yaml-value": "Values are plain YAML: no tags or types that are not JSON's.",
    "yaml-alias": "No YAML aliases: each value is written where it applies.",
    "yaml-merge": "No YAML merge keys (<<): each value is written where it applies.",
    "yaml-too-large": "Each file stays within the size limit.",
    "document-shape": "Each document is a mapping with apiVersion, kind, metadata and spec.",
    "api-version": "Each document's apiVersion is frontdoor/v1.",
    "document-kind": "Each document's kind is Team, Service, Edge or Environment.",
    "schema": "Each field has a value of the accepted form.",
    "unknown-field": "Each field is one of its kind's fields.",
    "duplicate-name": "No two documents of a kind share a name.",
    "unknown-reference": "Every name a document refers to is declared.",
    "openapi-missing": "A Service's api.openapi file exists.",
    "unknown-client": "Every API client a route names is declared by the Edge.",
    "login-provider": "A route that signs browsers in names a provider of the Edge with a login block.",
    "owner-role": "Each document is owned by a declared Team of the role its kind requires.",
    "field-owner": "Each field is written by the team whose role owns it.",
    "route-access": "Every route states its access: nothing defaults to public.",
    "access-override": "Only the Service's app team decides who may call its routes.",
    "route-conflict": "No two services claim the same path on the same entrypoint.",
    "route-duplicate": "A Service declares each path and method once.",
    "upstreams-missing": "Every exposed service has upstreams in the Environment.",
    "secret-unresolved": "Every secret reference resolves in the Environment's secrets.",
    "secret-literal": "Secrets are references, never literal values.",
    "exposure-internal": "No entrypoint exposes an internal service.",
    "exposure-unexposed": "Every public service is exposed by some entrypoint.",
    "promotion-cycle": "Environments promote in a line, never in a cycle.",
    "edge-coverage": "Exactly one Edge serves each environment.",
    "entrypoint-overlap": "No two entrypoints answer the same address and host.",
    "listener-tls": "Entrypoints on one listen address agree on tls.min_version and tls.client_auth.",
    "tls-required": "Every entrypoint listening beyond loopback has TLS.",
    "client-auth-missing": "Certificate clients' routes are on entrypoints that ask for client certificates.",
    "identity-missing": "The Edge declares an identity provider when a route needs an end user.",
    "identity-insecure": "Identity providers' issuer and keys are fetched over https (or loopback).",
    "observability-off": "The Edge has an access log and metrics.",
    "admin-operators": "The admin API exists and names its operators.",
    "admin-token": "The admin API has a token.",
    "health-missing": "Every exposed service declares a readiness check.",
    "rate-limits-missing": "Every exposed service has a rate limit.",
    "rate-limit-below-peak": "A per-route rate limit admits the service's declared peak load.",
    "rate-limit-loose": "No single bucket may send more than ten times the service's peak load.",
    "rate-limit-local": "A local rate limit is per gateway process: approximate across workers.",
    "oncall-missing": "Every team on the hook has an on-call.",
    "oncall-hours": "Every team on the hook answers at any hour (24x7).",
    "event-producers": "Each event topic has exactly one producing team.",
    "event-unproduced": "Each consumed event topic is produced by a declared service.",
    "unknown-environment": "The environment asked for is declared.",
}


#: ``frontdoor verify``'s findings: what the live edge did not honour (docs/verify.md, "Findings")
VERIFY_RULES: dict[str, str] = {
    "verify-open-door": "A route that needs credentials answers without them.",
    "verify-challenge": "A 401 carries the WWW-Authenticate challenge of the route's scheme.",
    "verify-access": "The edge admits and refuses what the route's access says.",
    "verify-forged-token": "A forged, expired, unsigned or wrong-audience token is refused with 401.",
    "verify-method": "A method no route allows is answered 405.",
    "verify-no-route": "A path no route owns is answered 404 by the edge.",
    "verify-path-trick": "Dot segments, encoded slashes and double encoding never reach a protected route.",
    "verify-hsts": "Every answer of an entrypoint with hsts carries Strict-Transport-Security.",
    "verify-tls-version": "A handshake below the entrypoint's min_version is refused.",
    "verify-plain-http": "Plain HTTP on a TLS entrypoint is refused or redirected to https.",
    "verify-ratelimit-headers": "Admitted answers of a rate-limited service carry RateLimit fields.",
    "verify-rate-limit": "With --burst, a rate limit reached answers 429 with Retry-After.",
    "verify-stop": "A stopped route answers 503 naming its owner.",
    "verify-unanswered": "The edge answers every probe.",
}


def docs_url() -> str:
    return os.environ.get("FRONTDOOR_DOCS_URL", DEFAULT_DOCS_URL).rstrip("/")


def rule_help(rule: str) -> str:
    known = RULES.get(rule) or VERIFY_RULES.get(rule)
    return known or f"Rule {rule}: see the rule table of docs/contract.md."


#: the production checks have a section of their own in docs/contract.md
PRODUCTION_CHECKS = frozenset(
    {
        "tls-required", "client-auth-missing", "identity-missing", "identity-insecure", "observability-off",
        "admin-operators", "admin-token", "health-missing", "rate-limits-missing", "rate-limit-below-peak",
        "rate-limit-loose", "rate-limit-local", "oncall-missing", "oncall-hours",
        "exposure-internal", "exposure-unexposed",
    }
)  # fmt: skip


def rule_uri(rule: str) -> str:
    """The section of docs/contract.md that explains the rule (table rows have no anchors), or of
    docs/verify.md for verify's findings."""
    if rule in VERIFY_RULES:
        return f"{docs_url()}/verify.md#findings"
    section = "production-checks" if rule in PRODUCTION_CHECKS else "rules-and-rule-ids"
    return f"{docs_url()}/contract.md#{section}"
