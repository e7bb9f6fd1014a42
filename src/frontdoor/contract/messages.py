"""Validation errors in the project's voice: the field, what was found, what is accepted, an example.

pydantic says "String should match pattern '^[a-z0-9]...'"; a person needs "metadata.name: found
'Orders_API'; a name is lowercase letters, digits and '-' ...; for example: name: orders-api".
A found value is shown only when it is short and plainly not a secret; otherwise only its type.
"""

from __future__ import annotations

import datetime
from typing import Any

from pydantic import ValidationError

from frontdoor.contract.models import API_VERSION, MODEL_BY_KIND
from frontdoor.contract.ownership import misplaced_field
from frontdoor.contract.secrets import secret_literal_kind
from frontdoor.contract.source import NodePath, SourceDocument
from frontdoor.contract.values import NAME_PATTERN
from frontdoor.errors import Finding

#: rules that say a whole document could not be taken in: reported before anything else, since the
#: errors after them are often their consequences
FIRST_RULES = frozenset(
    {
        "contract-read",
        "contract-not-a-file",
        "contract-too-large",
        "yaml-syntax",
        "yaml-encoding",
        "yaml-too-large",
        "document-shape",
        "api-version",
        "document-kind",
    }
)


def first_rules_first(finding: Finding) -> tuple[bool, str, int, str, str]:
    return (finding.rule not in FIRST_RULES, *finding.sort_key())


_NAME_TEXT = "a name: lowercase letters, digits and '-', starting and ending with a letter or digit, "
_NAME_TEXT += "at most 63 characters"

#: what a pattern accepts, in words, and an example of it
_PATTERNS: dict[str, tuple[str, str]] = {
    NAME_PATTERN: (_NAME_TEXT, "orders-api"),
    r"^/[^\s?#]*$": ("an absolute path without spaces, '?' or '#'", "/healthz"),
    r"^[A-Za-z0-9._-]{1,249}$": ("a topic name: letters, digits, '.', '_' and '-'", "orders.created"),
    r"^[^@\s]+@[^@\s]+$": ("an email address", "shop-team@example.com"),
    r"^(\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?)$": ('a Service name, or "*" for every public one', "orders"),
    r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$": (
        "a secret name: lowercase letters, digits, '.', '_' and '-'",
        "shop-tls-cert",
    ),
}

#: an example value for a field, by its name, used in every message about it
_EXAMPLES: dict[str, str] = {
    "apiVersion": API_VERSION,
    "kind": "Service",
    "metadata": "{name: orders, owner: shop-app}",
    "spec": "{...}",
    "name": "orders-api",
    "owner": "shop-app",
    "environments": "[prod]",
    "role": "app",
    "oncall": "{primary: pagerduty:shop-primary}",
    "primary": "pagerduty:shop-primary",
    "hours": "24x7",
    "exposure": "public",
    "routes": "[{path: /orders, access: public}]",
    "path": "/orders",
    "methods": "[GET, POST]",
    "access": "public",
    "scopes": "[orders:read]",
    "clients": "[payment-provider]",
    "readiness": "/healthz",
    "liveness": "/livez",
    "entrypoints": '[{name: public, listen: "0.0.0.0:8443", services: ["*"]}]',
    "listen": '"0.0.0.0:8443"',
    "hosts": "[shop.example.com]",
    "services": "[orders]",
    "tls": "{cert: secret:shop-cert, key: secret:shop-key}",
    "cert": "secret:shop-cert",
    "key": "secret:shop-key",
    "key_sha256": "secret:partner-key-hash",
    "token": "secret:admin-token",
    "min_version": '"1.3"',
    "issuer": "https://login.example.com/",
    "jwks_uri": "https://login.example.com/keys",
    "audiences": "[shop-api]",
    "algorithms": "[RS256]",
    "requests": "100",
    "per": "1s",
    "burst": "200",
    "store": "redis",
    "url": "http://10.0.0.7:8080",
    "weight": "1",
    "upstreams": '{orders: ["http://10.0.0.7:8080"]}',
    "secrets": "{shop-cert: file:/run/secrets/shop-cert}",
    "production": "true",
    "promotes_from": "test",
    "trusted_proxies": "[10.0.0.0/8]",
    "operators": "[platform]",
    "rule": "tls-required",
    "target": "public",
    "reason": '"the partner terminates TLS in front of us until the migration"',
    "expires": "2027-01-31",
    "max_request_body": "1MiB",
    "timeouts": "{connect: 2s, upstream: 30s}",
    "connect": "2s",
    "upstream": "30s",
    "header": "10s",
    "idle": "60s",
    "runbooks": "https://wiki.example.com/runbooks/shop",
    "availability": "99.9",
    "expected_rps": "50",
    "peak_rps": "200",
    "description": "Order placement and history",
    "health": "{readiness: /readyz, liveness: /livez}",
    "api": "{openapi: openapi/orders.yaml}",
    "openapi": "openapi/orders.yaml",
    "events": "{produces: [orders.created], consumes: [payments.settled]}",
    "produces": "[orders.created]",
    "consumes": "[payments.settled]",
    "load": "{expected_rps: 50, peak_rps: 200}",
    "slo": '{availability: "99.9", latency_p99_ms: 300}',
    "latency_p99_ms": "300",
    "contact": "{chat: '#shop', email: shop@example.com}",
    "chat": "'#shop'",
    "email": "shop@example.com",
    "escalation": "pagerduty:shop-lead",
    "identity": "{providers: [{name: corp-sso, issuer: https://login.example.com/, audiences: [shop-api]}]}",
    "providers": "[{name: corp-sso, issuer: https://login.example.com/, audiences: [shop-api]}]",
    "api_clients": "[{name: billing-batch, key_sha256: secret:billing-batch-key-hash}]",
    "certificate": '{san_uri: "spiffe://example.org/billing"}',
    "san_uri": '"spiffe://example.org/billing"',
    "subject": '"CN=billing,O=Example"',
    "client_auth": "{ca: secret:client-ca, mode: required}",
    "scopes_claim": "scope",
    "clock_skew_s": "30",
    "rate_limits": "{default: {requests: 100, per: 1s}}",
    "default": "{requests: 100, per: 1s, burst: 200}",
    "protection": "{max_request_body: 1MiB, timeouts: {connect: 2s}}",
    "max_header_bytes": "16KiB",
    "max_concurrent_streams": "100",
    "max_inflight_per_service": "256",
    "retries": "{attempts: 2, only_idempotent: true}",
    "attempts": "2",
    "circuit_breaker": "{failure_ratio: 0.5, min_requests: 20, open_for: 10s}",
    "failure_ratio": "0.5",
    "min_requests": "20",
    "open_for": "10s",
    "observability": "{access_log: {format: json}, metrics: {path: /metrics}, tracing: {propagate: w3c}}",
    "access_log": "{format: json, redact_headers: [authorization, cookie]}",
    "redact_headers": "[authorization, cookie]",
    "metrics": "{path: /metrics}",
    "metrics.path": "/metrics",
    "tracing": "{propagate: w3c}",
    "admin": '{listen: "127.0.0.1:9901", operators: [platform], token: secret:admin-token}',
    "admin.listen": '"127.0.0.1:9901"',
    "waivers": "[{rule: tls-required, target: public, reason: ..., expires: 2027-01-31}]",
    "hsts": "true",
    "strip_prefix": "true",
    "claims": "{role: admin}",
    "rate_limits.services.*": "{requests: 20, per: 1s, burst: 40}",
    "spec.upstreams.*": '["http://10.0.0.7:8080"]',
    "spec.secrets.*": "file:/run/secrets/NAME",
    "labels": "{team: shop}",
    "annotations": "{docs: https://wiki.example.com/shop}",
}

_TYPES = {
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "tuple_type": "a list",
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "date_type": "a date such as 2027-01-31",
    "date_parsing": "a date such as 2027-01-31",
    "date_from_datetime_parsing": "a date such as 2027-01-31",
    "date_from_datetime_inexact": "a date such as 2027-01-31 (no time of day)",
}


def dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and (part.startswith(("function-", "[")) or part in MODEL_BY_KIND):
            continue  # pydantic's names for validators and union members mean nothing to a user
        else:
            text += f".{part}" if text else str(part)
    return text


def clean_loc(loc: tuple[Any, ...]) -> NodePath:
    return tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "[")))


def found(value: object) -> str:
    """What was written, without ever repeating something that may be a secret or a page of text."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        if len(value) <= 60 and "\n" not in value and secret_literal_kind(None, value) is None:
            return repr(value)
        return f"a string of {len(value)} characters"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _field_name(loc: NodePath) -> str | None:
    names = [p for p in loc if isinstance(p, str)]
    return names[-1] if names else None


def _example_value(loc: NodePath) -> str | None:
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    return (
        _EXAMPLES.get(".".join(names[-2:]))
        or _EXAMPLES.get(names[-1])
        or _EXAMPLES.get(".".join([*names[-3:-1], "*"]))  # a value of a map keyed by user names
    )


def _as_written(loc: NodePath, value: str) -> str:
    """``name: value``; for an item of a list, ``name: [value]`` unless the example is a list."""
    name = _field_name(loc)
    if loc and isinstance(loc[-1], int) and not value.startswith("["):
        value = f"[{value}]"
    return f"; for example: {name}: {value}"


def example_of(loc: NodePath) -> str:
    example = _example_value(loc)
    return _as_written(loc, example) if example else ""


def _accepted(error: Any) -> tuple[str, str | None]:
    """(what is accepted, an example value if the error itself suggests one)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _TYPES:
        return f"expected {_TYPES[kind]}", None
    if kind == "string_pattern_mismatch":
        text, example = _PATTERNS.get(str(ctx.get("pattern")), ("a value of the documented form", None))
        return f"expected {text}", example
    if kind in ("literal_error", "enum"):
        options = str(ctx.get("expected", "")).replace("'", "")
        first = options.split(",")[0].split(" or ")[0].strip()
        return f"expected one of {options}", first or None
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        word = {
            "greater_than": "more than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        bound = next(iter(ctx.values()), "")
        return f"expected a number {word} {bound}", None
    if kind in ("too_short", "string_too_short"):
        return f"expected at least {ctx.get('min_length', 1)} item(s) or character(s)", None
    if kind in ("too_long", "string_too_long"):
        return f"expected at most {ctx.get('max_length')} item(s) or character(s)", None
    return str(error["msg"]).removeprefix("Value error, "), None


def _message(error: Any, loc: NodePath, value: object) -> str:
    field = dotted(loc) or "the document"
    accepted, suggested = _accepted(error)
    example = _as_written(loc, suggested) if suggested and _field_name(loc) else example_of(loc)
    if error["type"] == "value_error":
        # our own parsers' messages already say what is accepted, often quoting the value: a long
        # or secret-looking one is described instead of repeated
        if isinstance(value, str) and found(value) != repr(value):
            accepted = accepted.replace(repr(value), found(value))
        return f"{field}: {accepted}{example}"
    return f"{field}: found {found(value)}; {accepted}{example}"


def _value_at(data: Any, loc: NodePath) -> object:
    for part in loc:
        if isinstance(data, str):
            return data  # a short form the model expands (an upstream written as its URL)
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def schema_findings(
    kind: str, exc: ValidationError, source: SourceDocument, fix: str | None, skip: set[NodePath]
) -> list[Finding]:
    findings = []
    errors = exc.errors(include_url=False, include_input=False)
    locs = [clean_loc(tuple(e["loc"])) for e in errors]
    for error, loc in zip(errors, locs, strict=True):
        if any(path[: len(loc)] == loc or loc[: len(path)] == path for path in skip):
            continue  # the value holds a literal secret, reported on its own without repeating it
        if any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs):
            continue  # a deeper error explains this one ("at least 1 item" after every item failed)
        where = source.locate(loc)
        if error["type"] == "extra_forbidden":
            rule, message = misplaced_field(kind, str(loc[-1]))
            message = f"{dotted(loc)}: {message}" if rule == "unknown-field" else message
        elif error["type"] == "missing":
            rule = "schema"
            message = f"{dotted(loc)} is required: add it{example_of(loc) or ' (see docs/contract.md)'}"
        else:
            rule, message = "schema", _message(error, loc, _value_at(source.data, loc))
        findings.append(Finding(rule, message, where, fix))
    return findings


def envelope_finding(field: str, value: object, source: SourceDocument, fix: str | None) -> Finding:
    """A wrong apiVersion or kind: the document is not read at all, so it is said first and alone."""
    written = "is missing" if value is None else f"found {found(value)}"
    if field == "apiVersion":
        message = (
            f"apiVersion {written}; expected {API_VERSION} (the only version of the "
            f"contract format); the document is skipped until it is fixed; for example: "
            f"apiVersion: {API_VERSION}"
        )
        return Finding("api-version", message, source.locate(("apiVersion",)), fix)
    message = (
        f"kind {written}; expected one of Team, Service, Edge, Environment; the document "
        "is skipped until it is fixed; for example: kind: Service"
    )
    return Finding("document-kind", message, source.locate(("kind",)), fix)
