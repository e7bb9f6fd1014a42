"""The kill switch in every mode: real `frontdoor serve` and `frontdoor authz` processes sharing one stop
store (a state directory, or a real redis-server with no shared directory), over real sockets.

A stop sent to either process's admin API is enforced by the other; two deployments (another Edge,
another environment) sharing the store never see each other's stops; with Redis gone the last stops
keep applying and the failure is counted. Nothing waits for a fixed time: each test polls for the
condition it expects, with a generous deadline.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .authz_support import Process
from .harness import ContractSpec, Gateway, RedisServer, Upstreams, free_port, raw_exchange, request, statuses

TOKEN = "killswitch-test-token-8d1e"
POLL_TIMEOUT = 20.0  # generous: the store is read every half second, the machine may be busy


def eventually(check: Callable[[], bool], what: str) -> None:
    import time

    deadline = time.monotonic() + POLL_TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in {POLL_TIMEOUT:.0f} s"
        time.sleep(0.1)


def admin(port: int, path: str, method: str = "GET", body: object = None) -> tuple[int, object]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw.startswith((b"{", b"[")) else raw.decode())
    finally:
        connection.close()


class Authz:
    """`frontdoor authz` (Traefik dialect: the real status of every decision) with its own admin port."""

    def __init__(self, contract: Path, environment: str, env: dict[str, str], *extra: str) -> None:
        self.port, self.admin_port = free_port(), free_port()
        args = ["authz", str(contract), "--env", environment, "--listen", f"127.0.0.1:{self.port}"]
        args += [
            "--dialect",
            "traefik",
            "--access-log",
            "off",
            "--admin-listen",
            f"127.0.0.1:{self.admin_port}",
        ]
        self.process = Process([*args, *extra], env, self.port, "/readyz")

    def check(self, path: str, method: str = "GET") -> tuple[int, str]:
        headers = {"X-Forwarded-Uri": path, "X-Forwarded-Method": method, "X-Forwarded-Host": "shop.test"}
        status, fields, _ = request(self.port, "GET", "/auth", headers)
        return status, fields.get("x-frontdoor-deny", "")

    def stop(self) -> int:
        return self.process.stop()


def stopped(authz: Authz, path: str) -> bool:
    return authz.check(path) == (503, "kill-switch")


def served(gateway: Gateway, path: str) -> tuple[int, str, str]:
    """serve's status, what stopped the request ("service shop" / "route other.0", from the reason of its
    JSON error) and the owner that error names."""
    status, fields, body = request(gateway.spec.port, "GET", path, {"Host": "shop.test"})
    if not fields.get("content-type", "").startswith("application/json"):
        return status, "", ""
    error = json.loads(body)
    stopped, _, _ = str(error.get("reason", "")).partition(" was stopped by the platform team")
    return status, stopped if stopped != error.get("reason") else "", str(error.get("owner", ""))


def contract(tmp_path: Path, upstreams: Upstreams, redis: bool = False) -> tuple[ContractSpec, Path]:
    """serve's test contract (services shop and other, both owned by team shop), with the admin token;
    ``redis``: ``rate_limits.store: redis`` with the URL in $TEST_REDIS_URL."""
    settings = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        admin_token=TOKEN,
        rate_limits="{store: redis}" if redis else "",
        secrets={"redis-url": "env:TEST_REDIS_URL"} if redis else {},
    )
    return settings, settings.write(tmp_path / "contract")


def another_deployment(root: Path, target: Path, edge: str = "edge", environment: str = "dev") -> Path:
    """The same contract under another Edge name and/or environment name (and so another deployment)."""
    target.mkdir(parents=True)
    for path in root.iterdir():
        text = path.read_text()
        text = text.replace("metadata: {name: edge, owner: edge}", f"metadata: {{name: {edge}, owner: edge}}")
        text = text.replace(
            "metadata: {name: dev, owner: delivery}", f"metadata: {{name: {environment}, owner: delivery}}"
        )
        (target / path.name).write_text(text)
    return target


def process_env(**more: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "FRONTDOOR_ADMIN_TOKEN": TOKEN, **more}


def stop_via(port: int, kind: str, target: str, action: str = "stop") -> dict[str, object]:
    status, body = admin(
        port, f"/admin/{kind}/{target}/{action}", "POST", {"reason": f"test {action} {target}"}
    )
    assert status == 200, body
    assert isinstance(body, dict)
    return body


# --- one state directory ---------------------------------------------------------------------------------


def test_a_stop_through_either_admin_api_is_enforced_by_serve_and_authz_on_one_state_directory(
    tmp_path: Path, upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDOOR_ADMIN_TOKEN", TOKEN)
    spec, root = contract(tmp_path, upstreams)
    state = tmp_path / "state"
    serve = Gateway(root, spec, tmp_path / "serve.log", "--state-dir", str(state), "--no-watch")
    authz = Authz(root, "dev", process_env(), "--state-dir", str(state))
    try:
        assert authz.check("/shop/1") == (200, "")
        assert served(serve, "/shop/1")[0] == 200

        # serve's admin API stops the service: authz refuses it, exactly as serve does
        stop_via(spec.admin_port, "services", "shop")
        assert served(serve, "/shop/1") == (503, "service shop", "shop")
        eventually(lambda: authz.check("/shop/1") == (503, "kill-switch"), "authz enforcing serve's stop")
        assert authz.check("/other/1") == (200, "")
        stop_via(spec.admin_port, "services", "shop", "start")
        eventually(lambda: authz.check("/shop/1") == (200, ""), "authz seeing serve's start")

        # and the reverse: authz's admin API stops a route, serve refuses it
        status, table = admin(authz.admin_port, "/admin/routes")
        assert status == 200 and isinstance(table, dict)
        assert {r["id"] for r in table["routes"]} >= {"shop.0", "other.0"}
        stop_via(authz.admin_port, "routes", "other.0")
        assert authz.check("/other/1") == (503, "kill-switch")
        eventually(
            lambda: served(serve, "/other/1") == (503, "route other.0", "shop"),
            "serve enforcing authz's stop",
        )
        assert served(serve, "/shop/1")[0] == 200

        # one audit log for the deployment on this host: each process shows the other's writes
        status, audit = admin(spec.admin_port, "/admin/audit")
        assert status == 200 and isinstance(audit, dict)
        assert [(r["action"], r["target"]) for r in audit["records"]] == [
            ("stop", "service:shop"),
            ("start", "service:shop"),
            ("stop", "route:other.0"),
        ]
        assert (state / "edge" / "dev" / "stops.json").is_file()  # kept per Edge and environment
        # authz's metrics count its checks as serve counts requests: the stopped ones by deny kind
        assert denied(authz.admin_port, "shop", "kill-switch") >= 1
        assert denied(authz.admin_port, "other", "kill-switch") >= 1
    finally:
        authz.stop()
        serve.stop()


# --- Redis -----------------------------------------------------------------------------------------------


def test_a_stop_through_either_admin_api_is_enforced_through_redis_without_a_shared_directory(
    tmp_path: Path, upstreams: Upstreams, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDOOR_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    spec, root = contract(tmp_path, upstreams, redis=True)
    serve = Gateway(
        root, spec, tmp_path / "serve.log", "--state-dir", str(tmp_path / "serve-state"), "--no-watch"
    )
    authz = Authz(
        root,
        "dev",
        process_env(TEST_REDIS_URL=redis_server.url),
        "--state-dir",
        str(tmp_path / "authz-state"),
    )
    try:
        assert authz.check("/shop/1") == (200, "")
        stop_via(spec.admin_port, "services", "shop")
        eventually(lambda: authz.check("/shop/1") == (503, "kill-switch"), "authz enforcing serve's stop")
        stop_via(authz.admin_port, "routes", "other.0")
        eventually(
            lambda: served(serve, "/other/1") == (503, "route other.0", "shop"),
            "serve enforcing authz's stop",
        )
        stop_via(authz.admin_port, "services", "shop", "start")
        eventually(lambda: served(serve, "/shop/1")[0] == 200, "serve seeing authz's start")
        assert not (tmp_path / "serve-state" / "edge" / "dev" / "stops.json").exists()  # Redis, not the file
    finally:
        authz.stop()
        serve.stop()


def metric(port: int, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``, from the admin listener."""
    status, body = admin(port, "/metrics")
    assert status == 200 and isinstance(body, str)
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def denied(port: int, service: str, kind: str) -> float:
    return metric(port, "frontdoor_denied_total", service=service, kind=kind)


def scrape_failures(port: int) -> float:
    return metric(port, "frontdoor_stop_store_failures_total", store="redis", operation="read")


def test_with_redis_gone_the_last_stops_keep_applying_and_the_failure_is_counted(
    tmp_path: Path, upstreams: Upstreams, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDOOR_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    spec, root = contract(tmp_path, upstreams, redis=True)
    serve = Gateway(root, spec, tmp_path / "serve.log", "--state-dir", str(tmp_path / "state"), "--no-watch")
    authz = Authz(
        root, "dev", process_env(TEST_REDIS_URL=redis_server.url), "--state-dir", str(tmp_path / "a")
    )
    try:
        stop_via(spec.admin_port, "services", "shop")
        eventually(lambda: authz.check("/shop/1") == (503, "kill-switch"), "authz enforcing the stop")
        redis_server.kill()
        eventually(lambda: scrape_failures(authz.admin_port) > 0, "authz counting the failed reads")
        eventually(lambda: scrape_failures(spec.admin_port) > 0, "serve counting the failed reads")
        for _ in range(5):  # the stop still applies, in both modes, and nothing else is stopped
            assert authz.check("/shop/1") == (503, "kill-switch")
            assert served(serve, "/shop/1") == (503, "service shop", "shop")
            assert authz.check("/other/1") == (200, "")
        # a write the store cannot take is refused, never half done
        status, body = admin(spec.admin_port, "/admin/services/other/stop", "POST", {"reason": "x"})
        assert status == 503 and isinstance(body, dict) and "cannot be written" in body["reason"]
        assert served(serve, "/other/1")[0] == 200
        # a process restarted while Redis is away starts with the last stops this host read
        assert authz.stop() == 0
        authz = Authz(
            root, "dev", process_env(TEST_REDIS_URL=redis_server.url), "--state-dir", str(tmp_path / "a")
        )
        assert authz.check("/shop/1") == (503, "kill-switch")
        assert authz.check("/other/1") == (200, "")
    finally:
        assert authz.stop() == 0
        serve.stop()
    log = serve.output()
    assert "cannot be read" in log and f"redis 127.0.0.1:{redis_server.port}" in log  # host:port, never more


# --- deployments sharing a store ------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["state directory", "redis"])
def test_two_edges_and_two_environments_sharing_a_store_never_see_each_others_stops(
    tmp_path: Path,
    upstreams: Upstreams,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    store: str,
) -> None:
    monkeypatch.setenv("FRONTDOOR_ADMIN_TOKEN", TOKEN)
    _, root = contract(tmp_path, upstreams, redis=store == "redis")
    env = process_env(TEST_REDIS_URL=redis_server.url)
    state = ("--state-dir", str(tmp_path / "shared"))
    deployments = {
        "edge/dev": (root, "dev"),
        "edge-b/dev": (another_deployment(root, tmp_path / "edge-b", edge="edge-b"), "dev"),
        "edge/staging": (another_deployment(root, tmp_path / "staging", environment="staging"), "staging"),
    }
    running = {
        name: Authz(path, environment, env, *state) for name, (path, environment) in deployments.items()
    }
    twin = Authz(root, "dev", env, *state)  # a second process of edge/dev: it must see edge/dev's stops
    try:
        stop_via(running["edge/dev"].admin_port, "services", "shop")
        eventually(
            lambda: twin.check("/shop/1") == (503, "kill-switch"), "the same deployment seeing the stop"
        )
        # each other deployment stops a service of its own and waits until it sees it: its store has been
        # read after edge/dev's stop was written, so a leak would show now
        for name in ("edge-b/dev", "edge/staging"):
            other = running[name]
            stop_via(other.admin_port, "routes", "other.0")
            eventually(functools.partial(stopped, other, "/other/1"), f"{name} seeing its own stop")
            assert other.check("/shop/1") == (200, ""), f"{name} sees edge/dev's stop"
        twin.process.stop()
        twin = Authz(root, "dev", env, *state)  # a fresh read of edge/dev's store
        assert twin.check("/other/1") == (200, "")
        assert twin.check("/shop/1") == (503, "kill-switch")
        status, table = admin(running["edge/dev"].admin_port, "/admin/routes")
        assert status == 200 and isinstance(table, dict)
        assert [s["key"] for s in table["stops"]] == ["service:shop"]
    finally:
        twin.stop()
        for process in running.values():
            process.stop()


def test_pipelined_admin_requests_are_answered_in_order_after_a_stop(
    tmp_path: Path, upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDOOR_ADMIN_TOKEN", TOKEN)
    spec, root = contract(tmp_path, upstreams)
    serve = Gateway(root, spec, tmp_path / "serve.log", "--state-dir", str(tmp_path / "state"), "--no-watch")
    try:
        body = b'{"reason": "pipelined"}'
        auth = f"authorization: Bearer {TOKEN}\r\n".encode()
        stop = (
            b"POST /admin/services/shop/stop HTTP/1.1\r\nhost: x\r\n"
            + auth
            + b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
            + body
        )
        routes = b"GET /admin/routes HTTP/1.1\r\nhost: x\r\n" + auth + b"connection: close\r\n\r\n"
        raw = raw_exchange(spec.admin_port, stop + routes)
        assert statuses(raw) == [200, 200]
        first, second = raw.split(b"HTTP/1.1 200 ")[1:]
        # the stop's answer first, then the table that shows the stop
        assert b'"stopped": {' in first and b'"routes"' not in first
        assert b'"reason": "pipelined"' in second and b'"routes"' in second
    finally:
        serve.stop()
