"""The rendered nginx's access log takes the Edge's shape, as serve's does: the format, the logged
request headers, and ``[redacted]`` for a redacted one (real nginx, its log read from its stdout)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .authz_support import start_authz
from .harness import ContractSpec, Upstreams, request
from .test_render_nginx import NGINX, Nginx, render_conf

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)")
SECRET = "Bearer nginx-log-secret-77"


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    pool = Upstreams()
    yield pool
    pool.close()


def _log_of(tmp_path: Path, upstreams: Upstreams, observability: str) -> str:
    """nginx's access log for one request to /other/logged with a user agent and a credential."""
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")], observability=observability
    )
    contract = spec.write(tmp_path / "contract")
    # the real authz: the rendered nginx routes by the service and path its answer names
    authz, authz_port = start_authz(contract, dict(os.environ), tmp_path / "authz.log", "--dialect", "nginx")
    nginx = Nginx(tmp_path, render_conf(contract, authz_port, tmp_path), spec.port)
    try:
        headers = {"User-Agent": "probe/3.0", "Authorization": SECRET}
        assert request(spec.port, "GET", "/other/logged", headers)[0] == 200
    finally:
        nginx.stop()
        authz.stop()
    assert nginx.process.stdout is not None
    return nginx.process.stdout.read().decode()


def test_json_log_with_headers_and_redaction(tmp_path: Path, upstreams: Upstreams) -> None:
    output = _log_of(tmp_path, upstreams, "{access_log: {headers: [user-agent, authorization]}, metrics: {}}")
    line = next(line for line in output.splitlines() if '"path":"/other/logged"' in line)
    assert json.loads(line)["headers"] == {"user-agent": "probe/3.0", "authorization": "[redacted]"}
    assert "nginx-log-secret-77" not in output


def test_text_log(tmp_path: Path, upstreams: Upstreams) -> None:
    output = _log_of(tmp_path, upstreams, "{access_log: {format: text, headers: [user-agent]}, metrics: {}}")
    line = next(line for line in output.splitlines() if "/other/logged" in line)
    assert not line.startswith("{") and '"GET 127.0.0.1/other/logged" 200 ' in line
    assert "header.user-agent=probe/3.0" in line and "nginx-log-secret-77" not in output
