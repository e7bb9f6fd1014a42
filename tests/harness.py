"""Real processes and sockets for end-to-end tests: demo upstreams in a thread, the gateway as a
subprocess (`python -m frontdoor serve`), and a raw-socket client that sends exactly the bytes given."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdoor.demo.documents import join, service, team
from frontdoor.demo.upstream import UpstreamState, start_upstream

# The interpreter that runs `frontdoor` in the end-to-end tests' subprocesses: this one, or the one
# FRONTDOOR_PYTHON names (`make test-compiled` names .venv-compiled's, so that the same tests prove the
# mypyc-compiled build).
FRONTDOOR_PYTHON = os.environ.get("FRONTDOOR_PYTHON") or sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (a graceful drain), a kill if that takes over 15 s; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return int(process.returncode)


class Upstreams:
    """Demo upstream servers on loopback, served by an event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: dict[int, asyncio.Server] = {}
        self.states: dict[int, UpstreamState] = {}

    def start(self, name: str, port: int | None = None) -> int:
        port = port or free_port()
        state = UpstreamState()
        future = asyncio.run_coroutine_threadsafe(start_upstream(name, "127.0.0.1", port, state), self.loop)
        self.servers[port] = future.result(5)
        self.states[port] = state
        return port

    def stop(self, port: int) -> None:
        server = self.servers.pop(port)
        self.loop.call_soon_threadsafe(server.close)

    def close(self) -> None:
        for port in list(self.servers):
            self.stop(port)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


TEAMS = join(team("shop", "app"), team("edge", "platform"), team("delivery", "delivery"))

SERVICES = join(
    service(
        "shop",
        "shop",
        """
        - {path: /shop, access: public}
        - {path: /private, access: authenticated}
        - {path: =/exact, methods: [GET], access: public}
        - {path: /strip, access: public, strip_prefix: true}
        """,
    ),
    service("other", "shop", "- {path: /other, access: public}"),
)


@dataclass
class ContractSpec:
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    shop: list[tuple[int, int]] = field(default_factory=list)  # (port, weight)
    other: list[int] = field(default_factory=list)
    max_request_body: str = "64MiB"
    header_timeout: str = "1s"
    upstream_timeout: str = "2s"
    idle_timeout: str = "30s"
    body_timeout: str = ""  # the Edge's timeouts.body; "" leaves it out (its default)
    retries: int = 2
    trusted_proxies: str = "[]"
    tls: tuple[Path, Path, str] | None = None  # certificate file, key file, min_version; HSTS on
    tls_more: str = ""  # more keys of the entrypoint's tls flow mapping, e.g. ", client_auth: {...}"
    upstreams: dict[str, str] = field(default_factory=dict)  # more services' upstreams: name -> YAML list
    rate_limits: str = ""  # the Edge's rate_limits, as a YAML flow mapping
    protection: dict[str, str] = field(default_factory=dict)  # more keys of the Edge's protection
    services: str = SERVICES  # the Service documents (owner "shop"); upstreams are given for shop and other
    identity: str = ""  # the Edge's identity, as YAML (a flow mapping), e.g. {providers: [...]}
    secrets: dict[str, str] = field(default_factory=dict)  # more Environment secrets: name -> reference
    admin_token: str = ""  # the admin API's token (given to the gateway as FRONTDOOR_ADMIN_TOKEN)
    # the Edge's observability, a YAML flow mapping
    observability: str = "{access_log: {}, metrics: {}, tracing: {propagate: w3c}}"

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        tls = secrets = identity = token = ""
        references = dict(self.secrets)
        if self.tls is not None:
            cert, key, version = self.tls
            tls = f"""
              tls: {{cert: secret:tls-cert, key: secret:tls-key, min_version: "{version}", hsts: true{self.tls_more}}}"""
            references.update({"tls-cert": f"file:{cert}", "tls-key": f"file:{key}"})
        if self.admin_token:
            token = ", token: secret:admin-token"
            references["admin-token"] = "env:FRONTDOOR_ADMIN_TOKEN"
        if references:
            listed = ", ".join(f'{name}: "{ref}"' for name, ref in references.items())
            secrets = f"""
          secrets: {{{listed}}}"""
        rate_limits = f"\n          rate_limits: {self.rate_limits}" if self.rate_limits else ""
        more_upstreams = "".join(f"\n            {name}: {pool}" for name, pool in self.upstreams.items())
        protection = "".join(f"\n            {key}: {value}" for key, value in self.protection.items())
        body = f", body: {self.body_timeout}" if self.body_timeout else ""
        if self.identity:
            identity = f"""
          identity: {self.identity}"""
        shop = ", ".join(f'{{url: "http://127.0.0.1:{p}", weight: {w}}}' for p, w in self.shop)
        other = (
            ", ".join(f'"http://127.0.0.1:{p}"' for p in self.other) or f'"http://127.0.0.1:{free_port()}"'
        )
        edge = f"""
        apiVersion: frontdoor/v1
        kind: Edge
        metadata: {{name: edge, owner: edge}}
        spec:
          entrypoints:
            - name: local
              listen: "127.0.0.1:{self.port}"
              hosts: ["*"]
              services: ["*"]
              trusted_proxies: {self.trusted_proxies}{tls}{identity}
          protection:
            max_request_body: {self.max_request_body}
            max_header_bytes: 8KiB
            timeouts: {{connect: 1s, header: {self.header_timeout}, upstream: {self.upstream_timeout}, idle: {self.idle_timeout}{body}}}
            retries: {{attempts: {self.retries}, only_idempotent: true}}{protection}{rate_limits}
          observability: {self.observability}
          admin: {{listen: "127.0.0.1:{self.admin_port}", operators: [edge]{token}}}
        """
        environment = f"""
        apiVersion: frontdoor/v1
        kind: Environment
        metadata: {{name: dev, owner: delivery}}
        spec:
          upstreams:
            shop: [{shop}]
            other: [{other}]{more_upstreams}{secrets}
        """
        (root / "teams.yaml").write_text(TEAMS)
        (root / "services.yaml").write_text(self.services)
        (root / "edge.yaml").write_text(textwrap.dedent(edge))
        (root / "env.yaml").write_text(textwrap.dedent(environment))
        return root


class Gateway:
    """``frontdoor serve`` in a subprocess, ready when its admin /readyz answers 200.

    Its stdout and stderr go to a pipe read once it has exited, or, with ``output``, to that file, which
    can be read while it runs (and never fills up and blocks the gateway as an unread pipe can)."""

    def __init__(
        self, contract: Path, spec: ContractSpec, log: Path, *extra: str, output: Path | None = None
    ) -> None:
        self.spec = spec
        self.log = log
        self.contract = contract
        self.output_file = output
        if "--state-dir" not in extra:  # never the default (the user's own state directory)
            extra = (*extra, "--state-dir", str(log.parent / f"{log.name}.state"))
        sink = subprocess.PIPE if output is None else output.open("ab")
        self.process = subprocess.Popen(
            [
                FRONTDOOR_PYTHON,
                "-m",
                "frontdoor",
                "serve",
                str(contract),
                "--env",
                "dev",
                "--access-log",
                str(log),
                *extra,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "FRONTDOOR_ADMIN_TOKEN": spec.admin_token},
        )
        if not isinstance(sink, int):
            sink.close()  # the child has its own copy
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {self.output()}")
            try:
                if self.admin("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the gateway did not become ready")

    def admin(
        self, path: str, method: str = "GET", body: Any = None, token: str | None = None
    ) -> tuple[int, bytes]:
        """A request to the admin listener; ``token`` defaults to the contract's admin token."""
        headers = {}
        token = self.spec.admin_token if token is None else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.spec.admin_port, timeout=10)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def output(self) -> str:
        if self.output_file is not None:
            return self.output_file.read_text(errors="replace") if self.output_file.exists() else ""
        if self.process.poll() is None:
            return ""
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")

    def stop(self) -> int:
        return stop_process(self.process)

    def access_log(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw_exchange(port: int, data: bytes, timeout: float = 5, linger: float = 0.3) -> bytes:
    """Send ``data`` as is, then read until the gateway closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        sock.settimeout(linger)
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if received:
                    break
                continue
            if not chunk:
                break
            received += chunk
        return received


def statuses(raw: bytes) -> list[int]:
    """Status codes of every response in a raw byte stream, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]


class RedisServer:
    """A real ``redis-server`` on a free loopback port, in a temporary directory, persisting nothing.

    ``kill`` and ``start`` again (same port) model an outage and a recovery; ``pause`` / ``resume``
    (SIGSTOP / SIGCONT) model a Redis that accepts connections but never answers.
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer PING")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
