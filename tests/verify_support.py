"""What the verify tests share: a contract with every kind of access, TLS with HSTS and a rate limit,
its certificate, and verify run in-process (the edges it probes are real processes)."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from frontdoor.cli import main
from frontdoor.demo.documents import join, service, team

from .authz_support import BATCH_KEY_ENV, process_env
from .harness import free_port

APP_TEAM, PLATFORM_TEAM = "shop-app", "edge-platform"
ADMIN_TOKEN = "verify-test-admin-token"

SERVICES = join(
    team(APP_TEAM, "app"),
    team(PLATFORM_TEAM, "platform"),
    team("release", "delivery"),
    service(
        "shop",
        APP_TEAM,
        """
        - {path: /shop, access: public}
        - {path: /orders, methods: [GET], access: {scopes: ["orders:read"]}}
        - {path: /orders, methods: [POST], access: {scopes: ["orders:write"]}}
        - {path: /admin, access: {claims: {role: admin}}}
        - {path: /batch, access: {clients: [batch]}}
        - {path: /me, access: authenticated}
        - {path: =/hook, methods: [POST], access: {clients: [batch]}}
        """,
    ),
    # two requests an hour for the whole route, for --burst: the third is answered 429
    service("limited", APP_TEAM, "- {path: /limited, access: public}"),
)


@dataclass(frozen=True)
class Certificate:
    ca: Path
    cert: Path
    key: Path


def certificate(folder: Path, *names: str) -> Certificate:
    """A certificate for ``names`` (default 127.0.0.1 and localhost) from a throwaway CA."""
    ca = trustme.CA()
    issued = ca.issue_cert(*(names or ("127.0.0.1", "localhost")))
    folder.mkdir(parents=True, exist_ok=True)
    paths = Certificate(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths.ca))
    issued.private_key_and_cert_chain_pem.write_to_path(str(paths.cert))
    issued.private_key_pem.write_to_path(str(paths.key))
    return paths


@dataclass
class VerifyContract:
    idp_port: int
    upstream_port: int
    tls: Certificate
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    hsts: bool = True
    services: str = SERVICES
    limited: bool = True  # whether the Edge limits the "limited" service
    hosts: str = '["*"]'

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.idp_port}/"

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        limited = (
            "\n              limited: {requests: 1, per: 1h, burst: 2, key: route}" if self.limited else ""
        )
        edge = f"""
        apiVersion: frontdoor/v1
        kind: Edge
        metadata: {{name: edge, owner: {PLATFORM_TEAM}}}
        spec:
          entrypoints:
            - name: public
              listen: "127.0.0.1:{self.port}"
              hosts: {self.hosts}
              services: ["*"]
              trusted_proxies: ["127.0.0.1/32"]  # so that serve keeps verify's X-Request-Id in its log
              tls: {{cert: secret:tls-cert, key: secret:tls-key, min_version: "1.2", hsts: {str(self.hsts).lower()}}}
          identity:
            providers:
              - name: local-idp
                issuer: {self.issuer}
                audiences: [shop-api]
                algorithms: [RS256, ES256]
                jwks_uri: {self.issuer}keys
                scopes_claim: scope
            api_clients:
              - {{name: batch, key_sha256: "secret:batch-key-hash"}}
          rate_limits:
            store: local
            services:
              shop: {{requests: 1000, per: 1s, burst: 1000, key: subject}}{limited}
          protection:
            timeouts: {{connect: 1s, header: 2s, upstream: 5s, idle: 30s}}
          observability: {{access_log: {{}}, metrics: {{}}}}
          admin: {{listen: "127.0.0.1:{self.admin_port}", operators: [{PLATFORM_TEAM}], token: secret:admin-token}}
        """
        environment = f"""
        apiVersion: frontdoor/v1
        kind: Environment
        metadata: {{name: dev, owner: release}}
        spec:
          upstreams:
            shop: ["http://127.0.0.1:{self.upstream_port}"]
            limited: ["http://127.0.0.1:{self.upstream_port}"]
          secrets:
            batch-key-hash: env:{BATCH_KEY_ENV}
            admin-token: env:FRONTDOOR_ADMIN_TOKEN
            tls-cert: "file:{self.tls.cert}"
            tls-key: "file:{self.tls.key}"
        """
        (root / "services.yaml").write_text(self.services)
        (root / "edge.yaml").write_text(textwrap.dedent(edge))
        (root / "env.yaml").write_text(textwrap.dedent(environment))
        return root


def edge_env(state: Path) -> dict[str, str]:
    """The environment of the edge's processes: process_env's, and the admin token."""
    return {**process_env(state), "FRONTDOOR_ADMIN_TOKEN": ADMIN_TOKEN}


def run_verify(
    capsys: pytest.CaptureFixture[str], contract: Path, base_url: str, ca: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    """``frontdoor verify`` in this process, its JSON report parsed (a high rate: tests, not production)."""
    code = main(
        [
            "verify", str(contract), "--env", "dev", "--base-url", base_url, "--cacert", str(ca),
            "--rate", "500", "--format", "json", *extra,
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    return code, json.loads(out)


def rules_of(report: dict[str, Any]) -> set[str]:
    return {finding["rule"] for finding in report["findings"]}
