"""The conformance matrix's contract: the parity contract's services (tests/authz_support.py), so that
the parity table runs on it unchanged, plus what the matrix adds: method fallback (``cards``), a
stripped prefix, a route needing an API client and a scope at once, a list claim, a second API client,
a per-client rate limit behind a trusted proxy, a stopped service and a stopped route, an internal
service, and small body and header limits."""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from frontdoor.demo.documents import join, service

from ..authz_support import BATCH_KEY, BATCH_KEY_ENV, SERVICES
from ..harness import free_port

PARTNER_KEY = "matrix-partner-key-9876543210"
PARTNER_KEY_ENV = "MATRIX_TEST_PARTNER_KEY_SHA256"
ADMIN_TOKEN = "matrix-admin-token-0123456789abcdef"
ADMIN_TOKEN_ENV = "MATRIX_TEST_ADMIN_TOKEN"

#: the services the matrix adds to the parity ones; one upstream each, so the backend a request
#: reaches is visible in the upstream's echo
MATRIX_SERVICES = join(
    SERVICES,
    service(
        "extra",
        "shop",
        """
        - {path: /strip, access: public, strip_prefix: true}
        - {path: /reports, access: {clients: [batch], scopes: ["reports:read"]}}
        - {path: /teams, access: {claims: {groups: ops}}}
        - {path: /halted, access: public}
        """,
    ),
    # Gateway API semantics: GET /cards/settlement falls back to /cards (any method)
    service(
        "cards",
        "shop",
        """
        - {path: /cards, access: public}
        - {path: /cards/settlement, methods: [POST], access: public}
        """,
    ),
    service("perclient", "shop", "- {path: /perclient, access: public}"),
    service("paused", "shop", "- {path: /paused, access: public}"),
    # internal: the entrypoint's services ["*"] never exposes it
    service("ledger", "shop", "- {path: /ledger, access: public}", exposure="internal"),
)
#: every service with its own upstream
UPSTREAMS = ("shop", "limited", "extra", "cards", "perclient", "paused", "ledger")
#: the route stopped through the admin API (the service ``paused`` is stopped whole)
STOPPED_SERVICE = "paused"
STOPPED_ROUTE = "extra.3"  # /halted

MAX_BODY = 1024
MAX_HEADER_BYTES = 8192


@dataclass
class MatrixContract:
    """A contract whose Edge trusts the local identity provider at ``idp_port`` and two API clients;
    ``hosts`` are the upstreams' origins by service (``http://HOST:PORT``)."""

    idp_port: int
    origins: dict[str, str]
    port: int = field(default_factory=free_port)
    partner_port: int = field(default_factory=free_port)  # the second entrypoint: cards only
    admin_port: int = field(default_factory=free_port)
    #: without it the Edge has no admin API, so no kill switch: gateway-api's --auth native then checks
    #: tokens with Envoy Gateway's own JWT policies (with one, every request asks the authz)
    admin: bool = True

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.idp_port}/"

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        edge = f"""
        apiVersion: frontdoor/v1
        kind: Edge
        metadata: {{name: edge, owner: edge}}
        spec:
          entrypoints:
            - name: local
              listen: "127.0.0.1:{self.port}"
              hosts: ["shop.test", "*.shop.test"]
              services: ["*"]
              trusted_proxies: ["127.0.0.1/32"]
            - name: partner
              listen: "127.0.0.1:{self.partner_port}"
              hosts: ["api.partner.test"]
              services: ["cards"]
          identity:
            providers:
              - name: local-idp
                issuer: {self.issuer}
                audiences: [shop-api]
                algorithms: [RS256, ES256]
                jwks_uri: {self.issuer}keys
                scopes_claim: scope
                clock_skew_s: 30
            api_clients:
              - {{name: batch, key_sha256: "secret:batch-key-hash"}}
              - {{name: partner, key_sha256: "secret:partner-key-hash"}}
          rate_limits:
            store: local
            services:
              limited: {{requests: 1, per: 1h, burst: 1, key: route}}
              perclient: {{requests: 1, per: 1h, burst: 1, key: client}}
          protection:
            max_request_body: {MAX_BODY}
            max_header_bytes: {MAX_HEADER_BYTES}
            timeouts: {{connect: 1s, header: 2s, upstream: 5s, idle: 30s}}
          observability: {{access_log: {{}}, metrics: {{}}}}
        """
        if self.admin:
            edge += f"""
          admin: {{listen: "127.0.0.1:{self.admin_port}", operators: [edge], token: secret:admin-token}}
        """
        upstreams = "".join(f'\n            {name}: ["{self.origins[name]}"]' for name in UPSTREAMS)
        environment = f"""
        apiVersion: frontdoor/v1
        kind: Environment
        metadata: {{name: dev, owner: delivery}}
        spec:
          upstreams:{upstreams}
          secrets:
            batch-key-hash: env:{BATCH_KEY_ENV}
            partner-key-hash: env:{PARTNER_KEY_ENV}
            admin-token: env:{ADMIN_TOKEN_ENV}
        """
        (root / "services.yaml").write_text(MATRIX_SERVICES)
        (root / "edge.yaml").write_text(textwrap.dedent(edge))
        (root / "env.yaml").write_text(textwrap.dedent(environment))
        return root


def secrets_env() -> dict[str, str]:
    """The environment variables holding both API clients' key hashes and the admin token."""
    return {
        ADMIN_TOKEN_ENV: ADMIN_TOKEN,
        BATCH_KEY_ENV: hashlib.sha256(BATCH_KEY.encode()).hexdigest(),
        PARTNER_KEY_ENV: hashlib.sha256(PARTNER_KEY.encode()).hexdigest(),
    }
