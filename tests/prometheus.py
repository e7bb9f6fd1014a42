"""A real Prometheus (Debian's ``prometheus``, installed by scripts/system-packages.sh) on loopback,
scraping given targets every second into a temporary TSDB, asked through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import ContractSpec, Gateway, Upstreams, free_port, request, stop_process
from .oidc_support import login_secrets, login_yaml

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
READY_TIMEOUT = 30.0


class Prometheus:
    def __init__(self, root: Path, targets: list[str], metrics_path: str = "/metrics") -> None:
        root.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "frontdoor",
                    "metrics_path": metrics_path,
                    "static_configs": [{"targets": targets}],
                }
            ],
        }
        (root / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.port = free_port()
        self.log = (root / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"prometheus did not start: {(root / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def series(self, match: str) -> list[dict[str, str]]:
        """Every series Prometheus holds that ``match`` selects, as label sets (``__name__`` included)."""
        return list(self.api("series", **{"match[]": match}))

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


# --- a serve whose traffic gives every documented family a sample ---------------------------------


def busy_spec(upstreams: Upstreams, tmp_path: Path) -> ContractSpec:
    return ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        retries=1,
        admin_token="t0ken-for-the-admin-api",
        rate_limits="{default: {requests: 20, per: 1m, burst: 20, key: client}}",
        protection={"circuit_breaker": "{failure_ratio: 0.5, min_requests: 3, open_for: 60s}"},
        # a provider with browser sign-in (never reached: nothing here signs in)
        identity=f'{{providers: [{{name: corp, issuer: "http://127.0.0.1:{free_port()}/", audiences: [api], '
        f"login: {login_yaml()}}}]}}",
        secrets=login_secrets(tmp_path),
    )


def busy_gateway(spec: ContractSpec, tmp_path: Path) -> Gateway:
    contract = spec.write(tmp_path / "contract")
    return Gateway(contract, spec, tmp_path / "access.log", "--no-watch", "--health-interval", "0")


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    pool = Upstreams()
    yield pool
    pool.close()


def make_traffic(spec: ContractSpec, gateway: Gateway) -> None:
    assert request(spec.port, "GET", "/shop/1")[0] == 200
    assert request(spec.port, "GET", "/private/1")[0] == 401  # access
    # nothing listens behind "other": 502s until the breaker opens, then 503s it sheds
    assert [request(spec.port, "GET", "/other/1", timeout=5)[0] for _ in range(5)] == [502] * 3 + [503] * 2
    assert request(spec.port, "GET", "/nowhere")[0] == 404  # unmatched
    stops = gateway.log.parent / f"{gateway.log.name}.state" / "edge" / "dev" / "stops.json"
    stops.parent.mkdir(parents=True, exist_ok=True)
    stops.write_text("{ not json")  # the stop store's read fails; the last stops known keep applying
    # a browser coming back from a sign-in it never started: a failed sign-in step, counted
    assert request(spec.port, "GET", "/_frontdoor/callback?code=c0de&state=n0ne")[0] >= 400
    statuses = [request(spec.port, "GET", "/shop/2")[0] for _ in range(30)]
    assert 429 in statuses  # the rate limit (20 a minute per client) was reached
