"""``frontdoor verify`` against the rendered nginx (``render --target nginx``, a real nginx, a real
``frontdoor authz``): it passes, and it catches hand-edited copies of that nginx.conf: one whose
``auth_request`` was dropped, and one without HSTS, naming the route's clause and owner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from frontdoor.contract.load import load_contract
from frontdoor.render import RenderOptions, render

from .authz_support import BATCH_KEY, start_authz, start_idp
from .harness import Upstreams, free_port
from .test_render_nginx import NGINX, Nginx
from .verify_support import (
    APP_TEAM,
    PLATFORM_TEAM,
    VerifyContract,
    certificate,
    edge_env,
    rules_of,
    run_verify,
)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)")


@dataclass
class Stack:
    contract: VerifyContract
    directory: Path
    conf: str  # the rendered nginx.conf
    ca: Path
    root: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("verify-nginx")
    upstreams = Upstreams()
    authz = None
    try:
        tls = certificate(root / "tls")
        contract = VerifyContract(idp_port=free_port(), upstream_port=upstreams.start("shop"), tls=tls)
        state = root / "state"
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        directory = contract.write(root / "contract")
        authz, authz_port = start_authz(directory, edge_env(state), root / "authz.log", "--dialect", "nginx")
        result = load_contract(directory)
        assert result.valid, result.findings
        options = RenderOptions(authz_url=f"http://127.0.0.1:{authz_port}")
        conf = render(result.contract, "dev", "nginx", options)["nginx.conf"]
        yield Stack(contract, directory, conf, tls.ca, root)
    finally:
        if authz is not None:
            authz.stop()
        upstreams.close()


def _nginx(stack: Stack, name: str, conf: str) -> Nginx:
    folder = stack.root / name
    folder.mkdir()
    path = folder / "nginx.conf"
    path.write_text(conf)
    return Nginx(folder, path, stack.contract.port)


def test_verify_passes_against_the_rendered_nginx(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    nginx = _nginx(stack, "rendered", stack.conf)
    try:
        code, report = run_verify(
            capsys, stack.directory, stack.contract.base_url, stack.ca, "--api-key", f"batch={BATCH_KEY}"
        )
    finally:
        nginx.stop()
    assert report["findings"] == [] and code == 0, report
    assert {"anonymous", "forged-signature", "api-key", "path-trick", "plain-http"} <= set(report["kinds"])
    assert not any("rate-limit" in reason for reason in report["skipped"]), report["skipped"]


def test_verify_catches_a_dropped_auth_request(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """The hand edit of someone for whom the authz was in the way: location / without auth_request,
    proxying to the service directly."""
    conf = stack.conf.replace("auth_request /_frontdoor/authz;", "", 1)
    conf, count = re.subn(
        r"proxy_pass \$fd_upstream\$fd_path\$is_args\$args;", "proxy_pass http://service_shop;", conf
    )
    assert count == 1 and conf.count("auth_request ") == 0
    nginx = _nginx(stack, "no-auth-request", conf)
    try:
        code, report = run_verify(capsys, stack.directory, stack.contract.base_url, stack.ca)
    finally:
        nginx.stop()
    assert code == 1
    assert {"verify-open-door", "verify-forged-token", "verify-path-trick", "verify-method"} <= rules_of(
        report
    )
    doors = [f for f in report["findings"] if f["rule"] == "verify-open-door"]
    assert {re.match(r"open door: GET (\S+)", f["message"]).group(1) for f in doors} == {  # type: ignore[union-attr]
        "/orders", "/admin", "/batch", "/me"
    }  # fmt: skip
    for finding in doors:
        assert finding["file"] == str(stack.directory / "services.yaml") and finding["line"] > 0
        assert finding["fix"] == PLATFORM_TEAM and f"owned by {APP_TEAM}" in finding["message"]


def test_verify_catches_an_edge_without_hsts(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    conf = "\n".join(line for line in stack.conf.splitlines() if "Strict-Transport-Security" not in line)
    assert conf != stack.conf
    nginx = _nginx(stack, "no-hsts", conf + "\n")
    try:
        code, report = run_verify(capsys, stack.directory, stack.contract.base_url, stack.ca)
    finally:
        nginx.stop()
    assert code == 1 and rules_of(report) == {"verify-hsts"}, report
    (hsts,) = report["findings"]
    line = (stack.directory / "edge.yaml").read_text().splitlines()[hsts["line"] - 1]
    assert "hsts" in line and hsts["fix"] == PLATFORM_TEAM
