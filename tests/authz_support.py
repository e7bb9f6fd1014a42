"""What the authz, parity and identity-provider tests share: a contract with every kind of access, the
local identity provider in a thread, and `frontdoor authz` as a subprocess."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import signal
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from frontdoor.demo.documents import join, service, team
from frontdoor.idp.issuer import start_issuer

from .harness import FRONTDOOR_PYTHON, Upstreams, free_port, stop_process

BATCH_KEY = "parity-batch-key-0123456789"
BATCH_KEY_ENV = "AUTHZ_TEST_BATCH_KEY_SHA256"

SERVICES = join(
    team("shop", "app"),
    team("edge", "platform"),
    team("delivery", "delivery"),
    service(
        "shop",
        "shop",
        """
        - {path: /shop, access: public}
        - {path: /orders, methods: [GET], access: {scopes: ["orders:read"]}}
        - {path: /orders, methods: [POST], access: {scopes: ["orders:write"]}}
        - {path: /admin, access: {claims: {role: admin}}}
        - {path: /batch, access: {clients: [batch]}}
        - {path: /me, access: authenticated}
        - {path: =/exact, methods: [GET], access: public}
        - {path: =/orders/settle, methods: [PUT], access: public}
        """,
    ),
    # one request an hour for the whole route: the second is rate-limited, in every process
    service("limited", "shop", "- {path: /limited, access: public}"),
)


@dataclass
class AccessContract:
    """A contract whose Edge trusts the local identity provider at ``idp_port`` and one API client."""

    idp_port: int
    upstream_port: int
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    hosts: str = '["shop.test", "*.shop.test"]'

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
              hosts: {self.hosts}
              services: ["*"]
              trusted_proxies: ["127.0.0.1/32"]
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
          rate_limits:
            store: local
            services:
              limited: {{requests: 1, per: 1h, burst: 1, key: route}}
          protection:
            timeouts: {{connect: 1s, header: 2s, upstream: 5s, idle: 30s}}
          observability: {{access_log: {{}}, metrics: {{}}}}
          admin: {{listen: "127.0.0.1:{self.admin_port}", operators: [edge]}}
        """
        environment = f"""
        apiVersion: frontdoor/v1
        kind: Environment
        metadata: {{name: dev, owner: delivery}}
        spec:
          upstreams:
            shop: ["http://127.0.0.1:{self.upstream_port}"]
            limited: ["http://127.0.0.1:{self.upstream_port}"]
          secrets:
            batch-key-hash: env:{BATCH_KEY_ENV}
        """
        (root / "services.yaml").write_text(SERVICES)
        (root / "edge.yaml").write_text(textwrap.dedent(edge))
        (root / "env.yaml").write_text(textwrap.dedent(environment))
        return root


def process_env(state: Path) -> dict[str, str]:
    """The environment of gateway and authz subprocesses: the API client's key hash, the IdP's keys."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        BATCH_KEY_ENV: hashlib.sha256(BATCH_KEY.encode()).hexdigest(),
        "FRONTDOOR_STATE_DIR": str(state),
    }


def start_idp(upstreams: Upstreams, issuer: str, port: int, state: Path) -> None:
    """The local identity provider on ``port``, served by the Upstreams' event loop."""
    future = asyncio.run_coroutine_threadsafe(start_issuer(issuer, "127.0.0.1", port, state), upstreams.loop)
    upstreams.servers[port] = future.result(10)


def probe(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class Process:
    """A frontdoor command in a subprocess, ready once ``ready_port`` answers ``ready_path`` with 200."""

    def __init__(self, args: list[str], env: dict[str, str], ready_port: int, ready_path: str) -> None:
        self.process = subprocess.Popen(
            [FRONTDOOR_PYTHON, "-m", "frontdoor", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"frontdoor {args[0]} exited: {self.output()}")
            try:
                if probe(ready_port, ready_path) == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"frontdoor {args[0]} did not become ready")

    def output(self) -> str:
        if self.process.poll() is None:
            return ""
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def stop(self) -> int:
        return stop_process(self.process)


def start_authz(contract: Path, env: dict[str, str], log: Path, *extra: str) -> tuple[Process, int]:
    """authz on a free port; its admin listener (the Edge declares one) on another free port unless
    ``extra`` says where, so that it never takes the port of a serve started on the same contract."""
    port = free_port()
    args = ["authz", str(contract), "--env", "dev", "--listen", f"127.0.0.1:{port}", "--access-log", str(log)]
    if "--admin-listen" not in extra:
        extra = (*extra, "--admin-listen", f"127.0.0.1:{free_port()}")
    return Process([*args, *extra], env, port, "/readyz"), port


def start_serve(contract: Path, env: dict[str, str], log: Path, admin_port: int) -> Process:
    args = ["serve", str(contract), "--env", "dev", "--access-log", str(log), "--health-interval", "0"]
    return Process(args, env, admin_port, "/readyz")
