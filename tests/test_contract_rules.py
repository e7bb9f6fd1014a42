"""A table of broken contracts: each case is the example shop with one small edit, and the finding it must
produce: the rule id, the file and line it points at, and the team that owns the fix.

Lines are never written as numbers: they are looked up with ``line_of`` in the edited file, so a change
to the example moves the expectation with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from frontdoor.cli import main
from frontdoor.contract import load_contract
from frontdoor.contract.messages import FIRST_RULES
from frontdoor.errors import Finding
from frontdoor.report.check import EXIT_GAPS, EXIT_INVALID, EXIT_READY, run_check

from .conftest import edit, line_of

ORDERS = "services/orders.yaml"
CATALOG = "services/catalog.yaml"
PAYMENTS = "services/payments.yaml"
PUBLIC = "edges/public.yaml"
DEV_EDGE = "edges/dev.yaml"
PROD = "environments/prod.yaml"
DEV_ENV = "environments/dev.yaml"
TEAMS = "teams.yaml"

PEM_BODY = "MIIBszCCAVmgAwIBAgIUQ3x7r9pE2dYkXo1b2c3d4e5f6g7h8i9jMAoGCCqGSM49"
KEY_BODY = "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oAbq2a3cbLZ4oAoGCCqGSM49"
TOKEN = "xoxb-4f9Kq2ZL7mW3pT8vR1nY6sB0dJ5hG2cX"
GITHUB_TOKEN = "ghp_8fK2mQ9xL4vR7tY1nB3cZ6wP0sD5hJ2gE4kA"
PASSWORD = "hunter2-Summer"

STAGING_ENV = """\
apiVersion: frontdoor/v1
kind: Environment
metadata: {name: staging, owner: release-eng}
spec:
  production: false
"""

ORDERS_AGAIN = """\
apiVersion: frontdoor/v1
kind: Service
metadata: {name: orders, owner: shop-app}
spec:
  exposure: internal
  routes:
    - {path: /orders-again, access: public}
"""


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # the edited (or added) file, relative to the contract root
    old: str | None  # None: ``new`` is the content of a new file
    new: str
    rule: str
    needle: str  # text on the line the finding must point at, in ``file`` after the edit
    fix: str | None  # the team that owns the fix
    says: tuple[str, ...] = ()  # the message contains each of these
    never: tuple[str, ...] = ()  # no message of any finding contains any of these
    column: str | None = None  # the finding's column is where this text starts on the line
    offset: int = 0  # the line is this many lines after the needle's
    severity: str = "error"

    def apply(self, root: Path) -> None:
        if self.old is None:
            path = root / self.file
            assert not path.exists(), f"{self.file} already exists in the example"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.new)
        else:
            edit(root, self.file, self.old, self.new)


CASES = [
    # --- reading YAML ---------------------------------------------------------------------------------
    Case(
        "yaml-syntax",
        ORDERS,
        "exposure: public",
        "exposure: public: yes",
        "yaml-syntax",
        "exposure: public: yes",
        None,  # the file cannot be read, so nobody is known to own it
        says=("YAML syntax error",),
        column=": yes",
    ),
    Case(
        "yaml-duplicate-key",
        ORDERS,
        "  exposure: public\n",
        "  exposure: public\n  exposure: internal\n",
        "yaml-duplicate-key",
        "exposure: internal",
        "shop-app",
        says=("exposure",),
        column="exposure: internal",
    ),
    Case(
        "yaml-value-unknown-tag",
        ORDERS,
        "exposure: public",
        "exposure: !secret public",
        "yaml-value",
        "exposure: !secret",
        "shop-app",
        says=("!secret",),
    ),
    Case(
        "yaml-key-not-a-scalar",
        ORDERS,
        "health: {readiness",
        "health: {[readiness]",
        "yaml-key",
        "health: {[readiness]",
        "shop-app",
        column="[readiness]",
    ),
    Case(
        "yaml-merge-not-a-mapping",
        ORDERS,
        "health: {readiness",
        "health: {<<: 5, readiness",
        "yaml-merge",
        "health: {<<: 5",
        "shop-app",
        says=("merg",),  # the message must say what is wrong with the merge, not only where
    ),
    Case(
        "yaml-alias-cycle",
        ORDERS,
        "description: Order placement and history",
        "description: &loop [*loop]",
        "yaml-alias",
        "&loop",
        "shop-app",
        says=("cycle",),
    ),
    Case(
        "yaml-too-large",
        "services/deep.yaml",
        None,
        "# nested far too deep\nx: " + "[" * 70 + "]" * 70 + "\n",
        "yaml-too-large",
        "x: [[[",
        None,
    ),
    # --- the envelope ---------------------------------------------------------------------------------
    Case(
        "document-kind-misspelt",
        ORDERS,
        "kind: Service",
        "kind: Servce",
        "document-kind",
        "kind: Servce",
        "shop-app",
        says=("Team, Service, Edge, Environment",),
    ),
    Case(
        "document-kind-a-list",
        ORDERS,
        "kind: Service",
        "kind: [Service]",
        "document-kind",
        "kind: [Service]",
        "shop-app",
    ),
    Case(
        "api-version-wrong",
        ORDERS,
        "apiVersion: frontdoor/v1",
        "apiVersion: frontdoor/v2",
        "api-version",
        "apiVersion: frontdoor/v2",
        "shop-app",
        says=("frontdoor/v1",),
    ),
    Case(
        "api-version-missing",
        ORDERS,
        "apiVersion: frontdoor/v1\n",
        "",
        "api-version",
        "kind: Service",
        "shop-app",
    ),
    Case(
        "document-shape-list",
        "services/notes.yaml",
        None,
        "# not a document\n- a list\n- of words\n",
        "document-shape",
        "- a list",
        None,
    ),
    Case(
        "document-shape-scalar",
        "services/readme.yaml",
        None,
        "\njust a sentence\n",
        "document-shape",
        "just a sentence",
        None,
    ),
    # --- schema: typed values -------------------------------------------------------------------------
    Case(
        "schema-size",
        PUBLIC,
        "max_request_body: 1MiB",
        "max_request_body: 1XB",
        "schema",
        "max_request_body: 1XB",
        "platform",
        says=("max_request_body", "1XB", "size"),
    ),
    Case(
        "schema-certificate-subject",
        PUBLIC,
        "key_sha256: secret:payment-provider-key-hash",
        'certificate: {subject: "CN=provider, O=Payments"}',
        "schema",
        "certificate: {subject:",
        "platform",
        says=("subject", "distinguished name"),
    ),
    Case(
        "schema-api-client-key-and-certificate",
        PUBLIC,
        "key_sha256: secret:payment-provider-key-hash",
        "key_sha256: secret:payment-provider-key-hash\n        certificate: {san_uri: spiffe://p.example/x}",
        "schema",
        "- name: payment-provider",
        "platform",
        says=("key_sha256 or by certificate",),
    ),
    Case(
        "schema-upstream-tls-plain",
        PROD,
        '{url: "http://10.1.0.11:8080", weight: 90}',
        '{url: "http://10.1.0.11:8080", weight: 90, tls: {server_name: orders.internal}}',
        "schema",
        "http://10.1.0.11:8080",
        "release-eng",
        says=("tls is for https:// upstreams",),
    ),
    Case(
        "secret-unresolved-upstream-ca",
        PROD,
        '{url: "http://10.1.0.11:8080", weight: 90}',
        '{url: "https://10.1.0.11:8443", weight: 90, tls: {ca: secret:orders-ca}}',
        "secret-unresolved",
        "https://10.1.0.11:8443",
        "release-eng",
        says=("secret:orders-ca", "tls.ca"),
    ),
    Case(
        "schema-duration",
        PUBLIC,
        "connect: 2s",
        "connect: 2 seconds",
        "schema",
        "connect: 2 seconds",
        "platform",
        says=("connect", "duration"),
    ),
    Case(
        "schema-listen-name",
        PUBLIC,
        'listen: "0.0.0.0:8443"',
        'listen: "shop.example.com:8443"',
        "schema",
        "shop.example.com:8443",
        "platform",
        says=("listen", "shop.example.com:8443"),
    ),
    Case(
        "schema-listen-port",
        DEV_EDGE,
        'listen: "127.0.0.1:8080"',
        'listen: "127.0.0.1:80800"',
        "schema",
        "127.0.0.1:80800",
        "platform",
        says=("port",),
    ),
    Case(
        "schema-cidr-host-bits",
        PUBLIC,
        "trusted_proxies: [10.0.0.0/8]",
        "trusted_proxies: [10.0.0.1/8]",
        "schema",
        "trusted_proxies",
        "platform",
        says=("10.0.0.1/8", "host bits", "10.0.0.0/8"),
    ),
    Case(
        "schema-method",
        ORDERS,
        "methods: [GET]",
        "methods: [FETCH]",
        "schema",
        "methods: [FETCH]",
        "shop-app",
        says=("FETCH", "method"),
    ),
    Case(
        "schema-scope",
        ORDERS,
        '"orders:read"',
        '"orders read"',
        "schema",
        "orders read",
        "shop-app",
        says=("scope",),
    ),
    Case(
        "schema-exposure",
        ORDERS,
        "exposure: public",
        "exposure: everyone",
        "schema",
        "exposure: everyone",
        "shop-app",
        says=("exposure",),
    ),
    Case(
        "schema-url",
        PUBLIC,
        "issuer: https://login.example.com/",
        "issuer: login.example.com/",
        "schema",
        "issuer: login.example.com/",
        "platform",
        says=("issuer", "https://"),
    ),
    Case(
        "schema-upstream-with-path",
        PROD,
        '"http://10.1.0.31:8080"',
        '"http://10.1.0.31:8080/api"',
        "schema",
        "10.1.0.31:8080/api",
        "release-eng",
        says=("origin",),
    ),
    Case(
        "schema-algorithm-hs256",
        PUBLIC,
        "algorithms: [RS256, ES256]",
        "algorithms: [HS256]",
        "schema",
        "algorithms: [HS256]",
        "platform",
        says=("HS256", "shared-secret"),
    ),
    Case(
        "schema-algorithm-none",
        PUBLIC,
        "algorithms: [RS256, ES256]",
        "algorithms: [RS256, none]",
        "schema",
        "algorithms: [RS256, none]",
        "platform",
        says=("none", "unsigned"),
    ),
    Case(
        "schema-environment-secret-to-secret",
        PROD,
        "admin-token: env:FRONTDOOR_ADMIN_TOKEN",
        "admin-token: secret:admin-token",
        "schema",
        "admin-token: secret:admin-token",
        "release-eng",
        says=("env:VAR", "file:/path"),
    ),
    Case(
        "schema-required-field",
        CATALOG,
        "  exposure: public\n",
        "",
        "schema",
        "spec:",
        "shop-app",
        says=("exposure is required",),
    ),
    Case(
        "schema-wrong-type",
        ORDERS,
        "expected_rps: 200",
        "expected_rps: lots",
        "schema",
        "expected_rps: lots",
        "shop-app",
        says=("expected_rps", "number"),
    ),
    Case(
        "schema-name-pattern",
        ORDERS,
        "name: orders",
        "name: Orders",
        "schema",
        "name: Orders",
        "shop-app",
        says=("metadata.name",),
    ),
    Case(
        "schema-team-role",
        TEAMS,
        "role: platform",
        "role: platfrom",
        "schema",
        "role: platfrom",
        "platform",
        says=("role",),
    ),
    Case(
        "schema-environments-outside-edge",
        ORDERS,
        "owner: shop-app}",
        "owner: shop-app, environments: [prod]}",
        "schema",
        "environments: [prod]",
        "shop-app",
        says=("only for an Edge",),
    ),
    # --- unknown fields and fields of another kind (rule 2) -------------------------------------------
    Case(
        "unknown-field-service",
        ORDERS,
        "health: {readiness",
        "helth: {readiness",
        "unknown-field",
        "helth:",
        "shop-app",
        says=("helth", "did you mean health?"),
    ),
    Case(
        "unknown-field-edge",
        PUBLIC,
        "max_request_body: 1MiB",
        "max_request_bodyy: 1MiB",
        "unknown-field",
        "max_request_bodyy",
        "platform",
        says=("did you mean max_request_body?",),
    ),
    Case(
        "field-owner-tls-in-service",
        ORDERS,
        "  exposure: public\n",
        "  exposure: public\n  tls: {cert: secret:orders-cert, key: secret:orders-key}\n",
        "field-owner",
        "tls: {cert",
        "shop-app",
        says=("tls", "platform team", "Edge"),
    ),
    Case(
        "field-owner-upstreams-in-service",
        ORDERS,
        "  exposure: public\n",
        '  exposure: public\n  upstreams: {orders: ["http://10.1.0.11:8080"]}\n',
        "field-owner",
        "upstreams:",
        "shop-app",
        says=("upstreams", "delivery team", "Environment"),
    ),
    Case(
        "field-owner-routes-in-edge",
        PUBLIC,
        "  identity:\n",
        "  routes:\n    - {path: /orders, access: public}\n  identity:\n",
        "field-owner",
        "routes:",
        "platform",
        says=("routes", "app team", "Service"),
    ),
    Case(
        "field-owner-oncall-in-service",
        ORDERS,
        "  exposure: public\n",
        '  exposure: public\n  oncall: {primary: "pagerduty:orders"}\n',
        "field-owner",
        "oncall:",
        "shop-app",
        says=("oncall", "Team"),
    ),
    Case(
        "field-owner-production-in-edge",
        DEV_EDGE,
        "  identity:\n",
        "  production: false\n  identity:\n",
        "field-owner",
        "production: false",
        "platform",
        says=("production", "delivery team", "Environment"),
    ),
    # --- rule 4: access belongs to the Service --------------------------------------------------------
    Case(
        "access-override-edge",
        PUBLIC,
        "      services: [payments]\n",
        "      services: [payments]\n      access: public\n",
        "access-override",
        "access: public",
        "platform",
        says=("Service", "Edge"),
    ),
    Case(
        "access-override-environment",
        PROD,
        "  promotes_from: test\n",
        "  promotes_from: test\n  access: {orders: public}\n",
        "access-override",
        "access: {orders",
        "release-eng",
        says=("Service", "Environment"),
    ),
    # --- rule 1: owners -------------------------------------------------------------------------------
    Case(
        "owner-role-undeclared",
        ORDERS,
        "owner: shop-app}",
        "owner: shop-team}",
        "owner-role",
        "owner: shop-team",
        "shop-team",
        says=("shop-team", "not a declared Team"),
    ),
    Case(
        "owner-role-wrong-role",
        ORDERS,
        "owner: shop-app}",
        "owner: platform}",
        "owner-role",
        "owner: platform",
        "platform",
        says=("app team", "platform is a platform team"),
    ),
    Case(
        "owner-role-environment-owned-by-app",
        PROD,
        "owner: release-eng",
        "owner: payments-app",
        "owner-role",
        "owner: payments-app",
        "payments-app",
        says=("delivery team",),
    ),
    Case(
        "owner-role-missing-service",
        ORDERS,
        "{name: orders, owner: shop-app}",
        "{name: orders}",
        "owner-role",
        "{name: orders}",
        "an app team",  # two app teams are declared: either may be the one
        says=("no owner", "app team"),
    ),
    Case(
        "owner-role-missing-edge",
        PUBLIC,
        "owner: platform, ",
        "",
        "owner-role",
        "name: public-edge",
        "platform",  # the only platform team
        says=("no owner", "platform team"),
    ),
    Case(
        "owner-role-team-with-owner",
        TEAMS,
        "metadata: {name: platform}",
        "metadata: {name: platform, owner: release-eng}",
        "owner-role",
        "{name: platform, owner: release-eng}",
        "platform",
        says=("owns itself",),
    ),
    # --- rule 3: every route declares access ----------------------------------------------------------
    Case(
        "route-access-missing",
        ORDERS,
        "    - path: /orders/public-stats\n      access: public\n",
        "    - path: /orders/public-stats\n",
        "route-access",
        "path: /orders/public-stats",
        "shop-app",
        says=("/orders/public-stats", "public"),
    ),
    Case(
        "route-access-missing-path-not-a-path",
        ORDERS,
        "    - path: /orders/public-stats\n      access: public\n",
        "    - path: {key: '-----BEGIN PRIVATE KEY-----'}\n",
        "route-access",
        "path: {key:",
        "shop-app",
        says=("route #",),
        never=("BEGIN PRIVATE KEY",),  # a route that is no path is named by its place, never its value
    ),
    Case(
        "route-access-null",
        ORDERS,
        "/orders/public-stats\n      access: public",
        "/orders/public-stats\n      access: null",
        "route-access",
        "path: /orders/public-stats",
        "shop-app",
        says=("/orders/public-stats",),
    ),
    Case(
        "route-access-missing-in-invalid-service",
        CATALOG,
        "      methods: [GET, HEAD]\n      access: public\n",
        "      methods: [GET, HEAD, FETCH]\n",
        "route-access",
        "methods: [GET, HEAD, FETCH]",
        "shop-app",
        offset=-1,  # the route starts on the line before its methods
    ),
    # --- routes within a service, and between services (rule 5) ---------------------------------------
    Case(
        "route-duplicate",
        ORDERS,
        "  events:\n",
        "    - path: /orders/admin  # again\n      methods: [GET]\n      access: public\n  events:\n",
        "route-duplicate",
        "# again",
        "shop-app",
        says=("/orders/admin",),
    ),
    Case(
        "route-duplicate-trailing-slash",
        ORDERS,
        "  events:\n",
        "    - path: /orders/  # slash\n      methods: [GET]\n      access: public\n  events:\n",
        "route-duplicate",
        "# slash",
        "shop-app",
        says=("/orders",),
    ),
    Case(
        "route-conflict",
        PAYMENTS,
        "  events:\n",
        "    - path: /orders  # claimed\n      methods: [GET]\n      access: public\n  events:\n",
        "route-conflict",
        "# claimed",
        "shop-app, payments-app",
        says=("/orders", "orders", "payments", "shop-app", "payments-app"),
    ),
    # --- rule 6: wiring -------------------------------------------------------------------------------
    Case(
        "upstreams-missing",
        PROD,
        '    payments: ["http://10.1.0.31:8080"]\n',
        "",
        "upstreams-missing",
        "upstreams:",
        "release-eng",
        says=("payments", "webhooks"),
    ),
    Case(
        "secret-unresolved",
        PROD,
        "    admin-token: env:FRONTDOOR_ADMIN_TOKEN\n",
        "",
        "secret-unresolved",
        "secrets:",
        "release-eng",
        says=("secret:admin-token", "admin.token"),
    ),
    Case(
        "secret-unresolved-redis",
        PROD,
        "    redis-url: env:FRONTDOOR_REDIS_URL\n",
        "",
        "secret-unresolved",
        "secrets:",
        "release-eng",
        says=("redis-url",),
    ),
    Case(
        "secret-literal-pem-block",
        PUBLIC,
        "        cert: secret:shop-tls-cert\n",
        "        cert: |\n"
        "          -----BEGIN CERTIFICATE-----\n"
        f"          {PEM_BODY}\n"
        "          -----END CERTIFICATE-----\n",
        "secret-literal",
        "cert: |",
        "platform",
        says=("PEM", "secret:NAME"),
        never=(PEM_BODY, "-----BEGIN"),
    ),
    Case(
        "secret-literal-private-key",
        PUBLIC,
        "        key: secret:shop-tls-key\n",
        f'        key: "-----BEGIN EC PRIVATE KEY-----\\n{KEY_BODY}\\n-----END EC PRIVATE KEY-----"\n',
        "secret-literal",
        'key: "-----BEGIN',
        "platform",
        says=("private key",),
        never=(KEY_BODY, "-----BEGIN"),
    ),
    Case(
        "secret-literal-token-in-environment",
        PROD,
        "admin-token: env:FRONTDOOR_ADMIN_TOKEN",
        f"admin-token: {TOKEN}",
        "secret-literal",
        TOKEN,
        "release-eng",
        says=("token", "env:VAR"),
        never=(TOKEN,),
    ),
    Case(
        "secret-literal-token-in-label",
        ORDERS,
        "owner: shop-app}",
        f'owner: shop-app, labels: {{build: "{GITHUB_TOKEN}"}}}}',
        "secret-literal",
        GITHUB_TOKEN,
        "shop-app",
        says=("token",),
        never=(GITHUB_TOKEN,),
    ),
    Case(
        "secret-literal-token-as-name",
        ORDERS,
        "{name: orders, owner: shop-app}",
        f"{{name: {TOKEN}, owner: platform}}",
        "secret-literal",
        TOKEN,
        "platform",
        says=("metadata.name", "token"),
        never=(TOKEN,),  # not even in the other findings about this document
    ),
    Case(
        "secret-literal-token-inside-a-wrong-value",
        ORDERS,
        "methods: [GET]",
        f"methods: [GET, [{TOKEN}]]",
        "secret-literal",
        TOKEN,
        "shop-app",
        says=("token",),
        never=(TOKEN,),  # the schema error about methods[1] must not quote it either
    ),
    Case(
        "secret-literal-password",
        TEAMS,
        'contact: {chat: "#shop", email: shop@example.com}',
        f'contact: {{chat: "#shop", email: shop@example.com, password: "{PASSWORD}"}}',
        "secret-literal",
        PASSWORD,
        "shop-app",
        says=("password",),
        never=(PASSWORD,),
    ),
    Case(
        "unknown-client",
        ORDERS,
        "clients: [billing-batch]",
        "clients: [billing-bot]",
        "unknown-client",
        "billing-bot",
        "platform",
        says=("billing-bot", "api_clients"),
    ),
    Case(
        "login-provider",
        ORDERS,
        "access: {claims: {role: admin}}",
        "access: {claims: {role: admin}, login: partner-sso}",
        "login-provider",
        "login: partner-sso",
        "shop-app",
        says=("partner-sso", "login"),
    ),
    Case(
        "openapi-missing",
        ORDERS,
        "openapi: openapi/orders.yaml",
        "openapi: openapi/order.yaml",
        "openapi-missing",
        "openapi/order.yaml",
        "shop-app",
        says=("openapi/order.yaml",),
        severity="warning",  # the API description is documentation: its absence does not block
    ),
    # --- references -----------------------------------------------------------------------------------
    Case(
        "unknown-reference-entrypoint-service",
        PUBLIC,
        "services: [payments]",
        "services: [payment]",
        "unknown-reference",
        "services: [payment]",
        "platform",
        says=("payment",),
    ),
    Case(
        "unknown-reference-edge-environment",
        PUBLIC,
        "environments: [test, prod]",
        "environments: [test, prod, staging]",
        "unknown-reference",
        "staging",
        "platform",
        says=("staging",),
    ),
    Case(
        "unknown-reference-rate-limit",
        PUBLIC,
        "      payments: {requests: 20",
        "      paymnts: {requests: 20",
        "unknown-reference",
        "paymnts:",
        "platform",
        says=("paymnts",),
    ),
    Case(
        "unknown-reference-admin-operator",
        PUBLIC,
        "operators: [platform]",
        "operators: [platform, sre]",
        "unknown-reference",
        "operators: [platform, sre]",
        "platform",
        says=("sre",),
    ),
    Case(
        "unknown-reference-upstreams",
        PROD,
        '    payments: ["http://10.1.0.31:8080"]\n',
        '    payments: ["http://10.1.0.31:8080"]\n    billing: ["http://10.1.0.41:8080"]\n',
        "unknown-reference",
        "billing:",
        "release-eng",
        says=("billing",),
    ),
    Case(
        "unknown-reference-promotes-from",
        PROD,
        "promotes_from: test",
        "promotes_from: staging",
        "unknown-reference",
        "promotes_from: staging",
        "release-eng",
        says=("staging",),
    ),
    # --- rule 8 ---------------------------------------------------------------------------------------
    Case(
        "edge-coverage-none",
        "environments/staging.yaml",
        None,
        STAGING_ENV,
        "edge-coverage",
        "name: staging",
        "platform",
        says=("staging",),
    ),
    Case(
        "edge-coverage-two",
        PUBLIC,
        "environments: [test, prod]",
        "environments: [dev, test, prod]",
        "edge-coverage",
        "name: public-edge",
        "platform",
        says=("dev", "dev-edge", "public-edge"),
    ),
    Case(
        "entrypoint-overlap",
        DEV_EDGE,
        '      services: ["*"]\n',
        '      services: ["*"]\n    - name: second\n      listen: "0.0.0.0:8080"\n      services: [orders]\n',
        "entrypoint-overlap",
        '"0.0.0.0:8080"',
        "platform",
        says=("local", "second"),
    ),
    # entrypoints sharing a listener: one TLS handshake, so one min_version and one client_auth
    Case(
        "listener-tls-min-version",
        PUBLIC,
        'listen: "0.0.0.0:9443"',
        'listen: "0.0.0.0:8443"',
        "listener-tls",
        'min_version: "1.3"',
        "platform",
        says=("public", "webhooks", "0.0.0.0:8443", 'min_version "1.2"', 'min_version "1.3"'),
    ),
    Case(
        "listener-tls-client-auth",
        PUBLIC,
        'listen: "0.0.0.0:9443"\n      hosts: [hooks.shop.example.com]\n      tls:\n'
        "        cert: secret:hooks-tls-cert\n        key: secret:hooks-tls-key\n"
        '        min_version: "1.3"\n',
        'listen: "0.0.0.0:8443"\n      hosts: [hooks.shop.example.com]\n      tls:\n'
        "        cert: secret:hooks-tls-cert\n        key: secret:hooks-tls-key\n"
        '        min_version: "1.2"\n        client_auth: {ca: secret:shop-tls-cert, mode: optional}\n',
        "listener-tls",
        "client_auth: {ca: secret:shop-tls-cert",
        "platform",
        says=("public", "webhooks", "no client_auth", "client_auth optional", "tls.client_auth"),
    ),
    Case(
        "promotion-cycle",
        DEV_ENV,
        "  production: false\n",
        "  production: false\n  promotes_from: prod\n",
        "promotion-cycle",
        "promotes_from: prod",
        "release-eng",
        says=("cycle", "dev", "test", "prod"),
    ),
    Case(
        "duplicate-name",
        "services/zz-orders.yaml",
        None,
        ORDERS_AGAIN,
        "duplicate-name",
        "name: orders",
        "shop-app",
        says=("Service orders", "orders.yaml"),
    ),
]


def _describe(findings: list[Finding]) -> str:
    return "\n".join(f.render() for f in findings) or "(no findings)"


def _is_in(finding: Finding, root: Path, file: str) -> bool:
    return finding.where is not None and Path(finding.where.file).as_posix().endswith(f"/{file}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_contract(shop_copy: Path, case: Case) -> None:
    case.apply(shop_copy)
    line = line_of(shop_copy, case.file, case.needle) + case.offset
    result = load_contract(shop_copy)
    findings = result.findings

    same_rule = [f for f in findings if f.rule == case.rule]
    assert same_rule, f"no {case.rule} finding; got:\n{_describe(findings)}"
    here = [f for f in same_rule if _is_in(f, shop_copy, case.file) and f.where and f.where.line == line]
    assert here, f"no {case.rule} at {case.file}:{line}; got:\n{_describe(same_rule)}"
    owned = [f for f in here if f.fix == case.fix]
    assert owned, f"{case.rule} at {case.file}:{line} is not owned by {case.fix!r}:\n{_describe(here)}"
    saying = [f for f in owned if all(text in f.message for text in case.says)]
    assert saying, f"{case.rule} does not say all of {case.says}:\n{_describe(owned)}"
    for finding in findings:
        for text in case.never:
            assert text not in finding.message, f"a message repeats the secret: {finding.render()}"
    if case.column is not None:
        text = (shop_copy / case.file).read_text().splitlines()[line - 1]
        column = text.index(case.column) + 1
        assert any(f.where and f.where.column == column for f in saying), _describe(saying)
    assert {f.severity for f in same_rule} == {case.severity}
    assert result.valid == (case.severity != "error")


@pytest.mark.parametrize(
    "value",
    ["!!int", "!!float", "!!bool maybe", "!!timestamp yesterday", "!!int 0x", "!!map word"],
)
def test_bad_value_for_a_yaml_tag_is_a_finding(shop_copy: Path, value: str) -> None:
    """An explicit YAML type whose value does not fit it is reported where it is written, not raised."""
    edit(shop_copy, ORDERS, "description: Order placement and history", f"description: {value}")
    findings = load_contract(shop_copy).findings
    line = line_of(shop_copy, ORDERS, f"description: {value}")
    assert any(
        f.rule == "yaml-value" and _is_in(f, shop_copy, ORDERS) and f.where and f.where.line == line
        for f in findings
    ), _describe(findings)


def test_the_table_spans_every_rule() -> None:
    rules = {case.rule for case in CASES}
    expected = {
        "yaml-syntax",
        "yaml-duplicate-key",
        "yaml-value",
        "yaml-key",
        "yaml-merge",
        "yaml-alias",
        "yaml-too-large",
        "document-kind",
        "api-version",
        "document-shape",
        "schema",
        "unknown-field",
        "field-owner",
        "access-override",
        "owner-role",
        "route-access",
        "route-duplicate",
        "route-conflict",
        "upstreams-missing",
        "unknown-reference",
        "secret-unresolved",
        "secret-literal",
        "unknown-client",
        "login-provider",
        "openapi-missing",
        "edge-coverage",
        "entrypoint-overlap",
        "listener-tls",
        "promotion-cycle",
        "duplicate-name",
    }
    assert expected <= rules
    assert len(CASES) >= 35
    assert len({case.id for case in CASES}) == len(CASES)


def test_the_unedited_copy_is_clean(shop_copy: Path) -> None:
    """Every case above is caused by its edit: the example alone has no finding at all."""
    assert [f.render() for f in load_contract(shop_copy).findings] == []


def test_entrypoints_on_one_listener_may_differ_in_hsts_only(shop_copy: Path) -> None:
    """The same address, other hosts, the same min_version and client_auth: valid, whatever their hsts
    (each answer carries its own entrypoint's: tests/test_gateway_tls.py)."""
    edit(shop_copy, PUBLIC, 'listen: "0.0.0.0:9443"', 'listen: "0.0.0.0:8443"')
    edit(
        shop_copy, PUBLIC, 'min_version: "1.3"\n        hsts: true', 'min_version: "1.2"\n        hsts: false'
    )
    result = load_contract(shop_copy)
    assert result.valid and result.findings == [], _describe(result.findings)


# --- rules whose finding has no line, or needs bytes --------------------------------------------------


def test_contract_read_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    findings = load_contract(missing).findings
    assert [f.rule for f in findings] == ["contract-read"]
    assert str(missing) in findings[0].message


def test_contract_read_dangling_link(shop_copy: Path) -> None:
    link = shop_copy / "services" / "gone.yaml"
    link.symlink_to(shop_copy / "services" / "no-such-target.yaml")
    findings = load_contract(shop_copy).findings
    read = [f for f in findings if f.rule == "contract-read"]
    assert read, _describe(findings)
    assert read[0].where is not None
    assert read[0].where.file == str(link)
    assert read[0].where.line == 1


def test_contract_empty(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# nothing here\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "team.yaml").write_text("apiVersion: frontdoor/v1\n")
    findings = load_contract(tmp_path).findings
    assert [f.rule for f in findings] == ["contract-empty"]
    assert run_check(tmp_path).exit_code == EXIT_INVALID


def test_yaml_encoding(shop_copy: Path) -> None:
    (shop_copy / "services" / "latin1.yaml").write_bytes("description: caf\xe9\n".encode("latin-1"))
    findings = load_contract(shop_copy).findings
    bad = [f for f in findings if f.rule == "yaml-encoding"]
    assert len(bad) == 1, _describe(findings)
    assert bad[0].where is not None
    assert bad[0].where.file.endswith("/services/latin1.yaml")
    assert bad[0].where.line == 1


def test_unknown_environment_is_invalid(shop_copy: Path) -> None:
    report = run_check(shop_copy, "staging")
    assert report.exit_code == EXIT_INVALID
    assert [f.rule for f in report.errors] == ["unknown-environment"]
    assert "prod" in report.errors[0].message


# --- every problem at once, sorted --------------------------------------------------------------------


def _break_four_files(root: Path) -> None:
    edit(root, ORDERS, "methods: [GET]", "methods: [FETCH]")
    edit(root, PUBLIC, "max_request_body: 1MiB", "max_request_body: 1XB")
    edit(root, PROD, "admin-token: env:FRONTDOOR_ADMIN_TOKEN", f"admin-token: {TOKEN}")
    edit(root, TEAMS, "role: platform", "role: platfrom")
    edit(root, CATALOG, "    - path: /catalog\n      methods: [GET, HEAD]\n      access: public\n", "")
    (root / "services" / "broken.yaml").write_text("kind: Service\nspec: [unclosed\n")


def test_every_problem_is_reported_in_one_load(shop_copy: Path) -> None:
    _break_four_files(shop_copy)
    findings = load_contract(shop_copy).findings
    expected = {
        ("schema", ORDERS, line_of(shop_copy, ORDERS, "methods: [FETCH]")),
        ("schema", PUBLIC, line_of(shop_copy, PUBLIC, "max_request_body: 1XB")),
        ("secret-literal", PROD, line_of(shop_copy, PROD, TOKEN)),
        ("schema", TEAMS, line_of(shop_copy, TEAMS, "role: platfrom")),
        ("yaml-syntax", "services/broken.yaml", 3),  # the flow sequence is still open at the end
    }
    got = {
        (f.rule, file, f.where.line)
        for f in findings
        for file in (ORDERS, PUBLIC, PROD, TEAMS, "services/broken.yaml")
        if _is_in(f, shop_copy, file) and f.where
    }
    assert expected <= got, _describe(findings)


def test_findings_are_sorted_by_file_then_line(shop_copy: Path) -> None:
    _break_four_files(shop_copy)
    edit(shop_copy, ORDERS, "exposure: public", "exposure: everyone")  # an earlier line of the same file
    all_findings = load_contract(shop_copy).findings
    # a file or document that could not be read at all comes first (what follows may be its
    # consequences); then the rest in file, then line order
    first = [f for f in all_findings if f.rule in FIRST_RULES]
    assert [f.rule for f in first] == ["yaml-syntax"]
    assert all_findings[: len(first)] == first
    findings = all_findings[len(first) :]
    located = [(f.where.file, f.where.line) for f in findings if f.where]
    assert len(located) >= 5
    assert located == sorted(located)
    # findings without a place come first; every other one is in file, then line order
    unlocated = [i for i, f in enumerate(findings) if f.where is None]
    assert unlocated == list(range(len(unlocated)))
    files = [file for file, _ in located]
    assert len(set(files)) >= 4


# --- the command line ---------------------------------------------------------------------------------

_LINE = re.compile(
    r"^(?P<file>\S+?):(?P<line>\d+)(?::\d+)?: "
    r"(?P<rule>[a-z-]+): (?P<msg>.+) \(fix: (?P<fix>[^()]+)\)$"
)


def test_cli_check_invalid_contract(shop_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(shop_copy, ORDERS, "exposure: public", "exposure: everyone")
    edit(shop_copy, PUBLIC, "max_request_body: 1MiB", "max_request_body: 1XB")
    edit(shop_copy, PROD, "owner: release-eng", "owner: payments-app")

    code = main(["check", str(shop_copy)])
    out, err = capsys.readouterr()

    assert code == EXIT_INVALID
    assert "Traceback" not in out + err
    parsed = [m.groupdict() for m in map(_LINE.match, out.splitlines()) if m]
    want = [
        (ORDERS, line_of(shop_copy, ORDERS, "exposure: everyone"), "schema", "shop-app"),
        (PUBLIC, line_of(shop_copy, PUBLIC, "max_request_body: 1XB"), "schema", "platform"),
        (PROD, line_of(shop_copy, PROD, "owner: payments-app"), "owner-role", "payments-app"),
    ]
    for file, line, rule, fix in want:
        assert any(
            p["file"] == str(shop_copy / file)
            and int(p["line"]) == line
            and p["rule"] == rule
            and p["fix"] == fix
            for p in parsed
        ), f"no line for {file}:{line}: {rule} (fix: {fix}) in:\n{out}"
    assert "invalid" in out


def test_cli_check_syntax_error_names_line_and_column(
    shop_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(shop_copy, ORDERS, "exposure: public", "exposure: public: yes")
    code = main(["check", str(shop_copy), "--env", "prod"])
    out, err = capsys.readouterr()
    assert code == EXIT_INVALID
    assert "Traceback" not in out + err
    line = line_of(shop_copy, ORDERS, "exposure: public: yes")
    assert f"{shop_copy / ORDERS}:{line}:" in out
    assert "yaml-syntax" in out


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_cli_never_prints_a_traceback(shop_copy: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    edit(shop_copy, ORDERS, "kind: Service", "kind: [Service]")
    code = main(["check", str(shop_copy), "--format", fmt])
    out, err = capsys.readouterr()
    assert code == EXIT_INVALID
    assert "Traceback" not in out + err


def test_cli_check_example_is_ready(shop_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(shop_copy), "--env", "prod"]) == EXIT_READY
    out, _ = capsys.readouterr()
    assert "ready" in out


# --- production gaps ----------------------------------------------------------------------------------


def _gaps(root: Path, env: str | None = "prod", strict: bool = False) -> tuple[int, list[Finding]]:
    report = run_check(root, env, strict)
    assert report.errors == [], _describe(report.errors)
    found = [f for v in report.environments for f in v.findings] + report.contract_findings
    return report.exit_code, found


def _one(findings: list[Finding], rule: str, root: Path, file: str, line: int, fix: str) -> Finding:
    matching = [
        f
        for f in findings
        if f.rule == rule and _is_in(f, root, file) and f.where and f.where.line == line and f.fix == fix
    ]
    assert matching, f"no {rule} at {file}:{line} (fix: {fix}):\n{_describe(findings)}"
    return matching[0]


def test_prod_entrypoint_without_tls_is_a_gap(shop_copy: Path) -> None:
    edit(
        shop_copy,
        PUBLIC,
        "      tls:\n        cert: secret:shop-tls-cert\n        key: secret:shop-tls-key\n"
        '        min_version: "1.2"\n        hsts: true\n',
        "",
    )
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    gap = _one(
        findings, "tls-required", shop_copy, PUBLIC, line_of(shop_copy, PUBLIC, "- name: public"), "platform"
    )
    assert gap.severity == "gap"
    assert "0.0.0.0:8443" in gap.message


def test_dev_entrypoint_without_tls_is_a_warning_unless_strict(shop_copy: Path) -> None:
    assert _gaps(shop_copy, "dev", strict=True)[0] == EXIT_READY  # on loopback, nothing to say
    edit(shop_copy, DEV_EDGE, 'listen: "127.0.0.1:8080"', 'listen: "0.0.0.0:8080"')
    code, findings = _gaps(shop_copy, "dev")
    assert code == EXIT_READY
    warning = _one(
        findings,
        "tls-required",
        shop_copy,
        DEV_EDGE,
        line_of(shop_copy, DEV_EDGE, "- name: local"),
        "platform",
    )
    assert warning.severity == "warning"
    assert _gaps(shop_copy, "dev", strict=True)[0] == EXIT_GAPS


def test_observability_off_is_a_gap(shop_copy: Path) -> None:
    edit(
        shop_copy,
        PUBLIC,
        "  observability:\n    access_log: {format: json, redact_headers: [authorization, cookie]}\n"
        "    metrics: {path: /metrics}\n    tracing: {propagate: w3c}\n",
        "",
    )
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    line = line_of(shop_copy, PUBLIC, "spec:")  # no observability: the spec it is missing from
    gap = _one(findings, "observability-off", shop_copy, PUBLIC, line, "platform")
    assert "access_log" in gap.message
    assert "metrics" in gap.message


def test_observability_without_metrics_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, "    metrics: {path: /metrics}\n", "")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    gap = _one(
        findings,
        "observability-off",
        shop_copy,
        PUBLIC,
        line_of(shop_copy, PUBLIC, "observability:"),
        "platform",
    )
    assert "metrics" in gap.message
    assert "access_log" not in gap.message


def test_admin_operators_missing_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, "operators: [platform]", "operators: []")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    _one(findings, "admin-operators", shop_copy, PUBLIC, line_of(shop_copy, PUBLIC, "admin:"), "platform")


def test_health_readiness_missing_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, ORDERS, "health: {readiness: /readyz, liveness: /livez}", "health: {liveness: /livez}")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    gap = _one(findings, "health-missing", shop_copy, ORDERS, line_of(shop_copy, ORDERS, "spec:"), "shop-app")
    assert "orders" in gap.message


def test_rate_limits_missing_is_a_gap(shop_copy: Path) -> None:
    # orders and payments keep their own limits; catalog relied on the default
    edit(shop_copy, PUBLIC, "    default: {requests: 100, per: 1s, burst: 200, key: client}\n", "")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    gap = _one(
        findings,
        "rate-limits-missing",
        shop_copy,
        PUBLIC,
        line_of(shop_copy, PUBLIC, "rate_limits:"),
        "platform",
    )
    assert "catalog" in gap.message
    assert [f.message for f in findings if f.rule == "rate-limits-missing"] == [gap.message]


def test_internal_service_exposed_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, CATALOG, "exposure: public", "exposure: internal")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    line = line_of(shop_copy, PUBLIC, "services: [orders, catalog, account]")
    gap = _one(findings, "exposure-internal", shop_copy, PUBLIC, line, "platform, shop-app")
    assert "catalog" in gap.message


def test_public_service_unexposed_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, "services: [orders, catalog, account]", "services: [orders, account]")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    line = line_of(shop_copy, CATALOG, "exposure: public")
    gap = _one(findings, "exposure-unexposed", shop_copy, CATALOG, line, "platform, shop-app")
    assert "catalog" in gap.message


def test_consumed_topic_nobody_produces_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, ORDERS, "consumes: [payments.settled]", "consumes: [payments.settled, refunds.issued]")
    code, findings = _gaps(shop_copy, None)
    assert code == EXIT_GAPS
    line = line_of(shop_copy, ORDERS, "refunds.issued")
    gap = _one(findings, "event-unproduced", shop_copy, ORDERS, line, "shop-app")
    assert "refunds.issued" in gap.message
    assert "payments.settled" not in gap.message


def test_topic_with_two_producers_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, PAYMENTS, "produces: [payments.settled]", "produces: [payments.settled, orders.created]")
    code, findings = _gaps(shop_copy, None)
    assert code == EXIT_GAPS
    line = line_of(shop_copy, PAYMENTS, "produces:")
    gap = _one(findings, "event-producers", shop_copy, PAYMENTS, line, "payments-app, shop-app")
    assert "orders.created" in gap.message
    assert "orders" in gap.message
    assert "payments" in gap.message


def test_team_without_oncall_is_a_gap(shop_copy: Path) -> None:
    edit(
        shop_copy,
        TEAMS,
        '  oncall:\n    primary: "pagerduty:payments-primary"\n    escalation: "pagerduty:payments-lead"\n'
        "    hours: 24x7\n",
        "",
    )
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    line = line_of(shop_copy, TEAMS, "metadata: {name: payments-app}") + 1  # its spec:
    gap = _one(findings, "oncall-missing", shop_copy, TEAMS, line, "payments-app")
    assert "payments-app" in gap.message


def test_identity_provider_missing_is_a_gap(shop_copy: Path) -> None:
    edit(
        shop_copy,
        PUBLIC,
        "    providers:\n      - name: corp-sso\n        issuer: https://login.example.com/\n"
        "        audiences: [shop-api]\n        algorithms: [RS256, ES256]\n"
        "        jwks_uri: https://login.example.com/keys\n"
        "        scopes_claim: scope\n        clock_skew_s: 30\n"
        "        login:\n          client_id: shop-web\n          client_secret: secret:shop-web-client-secret\n"
        "          scopes: [openid, profile, email]\n          session: {ttl: 8h, idle: 1h}\n"
        "          cookie_keys: [secret:session-key, secret:session-key-previous]\n",
        "",
    )
    # the page that signs in with it signs in no more: an end-user token is what is missing now
    edit(shop_copy, "services/account.yaml", "access: {login: corp-sso}", "access: authenticated")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    gap = _one(
        findings, "identity-missing", shop_copy, PUBLIC, line_of(shop_copy, PUBLIC, "identity:"), "platform"
    )
    assert "orders" in gap.message
    assert "payments" in gap.message


def test_gaps_in_prod_do_not_leak_into_dev(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, "operators: [platform]", "operators: []")
    assert _gaps(shop_copy, "prod")[0] == EXIT_GAPS
    assert _gaps(shop_copy, "dev", strict=True)[0] == EXIT_READY


def test_identity_provider_over_http_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, "issuer: https://login.example.com/", "issuer: http://login.example.com/")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    line = line_of(shop_copy, PUBLIC, "identity:")
    gap = _one(findings, "identity-insecure", shop_copy, PUBLIC, line, "platform")
    assert "corp-sso" in gap.message


def test_admin_without_token_is_a_gap(shop_copy: Path) -> None:
    edit(shop_copy, PUBLIC, "    token: secret:admin-token\n", "")
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    _one(findings, "admin-token", shop_copy, PUBLIC, line_of(shop_copy, PUBLIC, "admin:"), "platform")


def test_business_hours_oncall_is_only_a_note_in_production(shop_copy: Path) -> None:
    code, findings = _gaps(shop_copy)
    assert code == EXIT_READY
    line = line_of(shop_copy, TEAMS, "hours: business-hours")
    note = _one(findings, "oncall-hours", shop_copy, TEAMS, line, "release-eng")
    assert note.severity == "note"
    assert not [f for f in _gaps(shop_copy, "dev")[1] if f.rule == "oncall-hours"]


# --- secrets and cascades, by name ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "flagged"),
    [
        ("token_use", False),
        ("password_policy", False),
        ("redis_password", True),
        ("client_secret", True),
        ("api_key", True),
        ("api-token", True),
        ("key", False),
    ],
)
def test_credential_keys_by_their_last_word(key: str, flagged: bool) -> None:
    from frontdoor.contract.secrets import secret_literal_kind

    assert (secret_literal_kind(key, "access") is not None) is flagged


def test_a_duplicate_key_does_not_hide_unknown_references(shop_copy: Path) -> None:
    # a duplicate key is a problem inside a file that parsed: every other document is still known
    edit(
        shop_copy,
        "teams.yaml",
        '  contact: {chat: "#shop", email: shop@example.com}\n',
        '  contact: {chat: "#shop", email: shop@example.com}\n  role: app\n',
    )
    edit(
        shop_copy,
        "edges/public.yaml",
        "services: [orders, catalog, account]",
        "services: [orders, catalog, ghost]",
    )
    rules = {f.rule for f in load_contract(shop_copy).findings}
    assert {"yaml-duplicate-key", "unknown-reference"} <= rules


def test_certificate_clients_on_an_entrypoint_without_client_auth_is_a_gap(shop_copy: Path) -> None:
    edit(
        shop_copy,
        PUBLIC,
        "key_sha256: secret:payment-provider-key-hash",
        'certificate: {san_uri: "spiffe://payments.example/provider"}',
    )
    code, findings = _gaps(shop_copy)
    assert code == EXIT_GAPS
    gap = _one(
        findings,
        "client-auth-missing",
        shop_copy,
        PUBLIC,
        line_of(shop_copy, PUBLIC, "- name: webhooks"),
        "platform",
    )
    assert "payments" in gap.message and gap.target == "webhooks"
    # the webhooks entrypoint asks for client certificates: the gap is closed
    edit(
        shop_copy,
        PUBLIC,
        'min_version: "1.3"',
        'min_version: "1.3"\n        client_auth: {ca: secret:partner-ca}',
    )
    edit(
        shop_copy,
        PROD,
        "    redis-url:",
        "    partner-ca: file:/etc/frontdoor/tls/partner-ca.pem\n    redis-url:",
    )
    edit(
        shop_copy,
        "environments/test.yaml",
        "    hooks-tls-key:",
        "    partner-ca: env:PARTNER_CA\n    hooks-tls-key:",
    )
    assert not [f for f in _gaps(shop_copy)[1] if f.rule == "client-auth-missing"]
