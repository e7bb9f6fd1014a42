"""`frontdoor authz` as a process: flags refused with a clear message, SIGHUP reload (and a refused
reload keeping the previous contract), probes from any peer, SIGTERM ending with 0."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from frontdoor.cli import main

from .authz_support import BATCH_KEY_ENV, AccessContract, process_env, start_authz
from .harness import free_port, request


def contract(tmp_path: Path) -> Path:
    return AccessContract(idp_port=free_port(), upstream_port=free_port()).write(tmp_path / "contract")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--listen", "nowhere"], "host:port"),
        (["--listen", "127.0.0.1:1", "--trusted", "10.0.0.0/99"], "not an IP network"),
        (["--listen", "127.0.0.1:1", "--entrypoint", "nope"], "no such entrypoint"),
        (["--listen", "127.0.0.1:1", "--dialect", "envoy", "--path-prefix", "auth"], "path-prefix"),
    ],
)
def test_bad_flags_are_refused_before_anything_listens(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    message: str,
) -> None:
    monkeypatch.setenv(BATCH_KEY_ENV, "0" * 64)  # the contract's secrets resolve: only the flag is wrong
    assert main(["authz", str(contract(tmp_path)), "--env", "dev", *flags]) == 2
    assert message in capsys.readouterr().err


def test_an_invalid_contract_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = contract(tmp_path)
    (root / "services.yaml").write_text((root / "services.yaml").read_text().replace("access: public", "", 1))
    assert main(["authz", str(root), "--env", "dev", "--listen", f"127.0.0.1:{free_port()}"]) == 2
    assert "invalid" in capsys.readouterr().err


def nginx_check(port: int, path: str) -> int:
    headers = {"Host": "shop.test", "X-Original-URI": path, "X-Original-Method": "GET"}
    return request(port, "GET", "/auth", headers)[0]


def test_sighup_reloads_and_a_bad_contract_keeps_the_previous(tmp_path: Path) -> None:
    root = contract(tmp_path)
    services = root / "services.yaml"
    original = services.read_text()
    process, port = start_authz(root, process_env(tmp_path / "state"), tmp_path / "authz.log")
    try:
        assert nginx_check(port, "/shop") == 200
        services.write_text(
            original.replace("{path: /shop, access: public}", "{path: /shop, access: authenticated}")
        )
        process.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while nginx_check(port, "/shop") != 401:
            assert time.monotonic() < deadline, "the reload was not picked up"
            time.sleep(0.05)
        services.write_text(original.replace("access: public", "access: everyone", 1))  # invalid
        process.signal(signal.SIGHUP)
        time.sleep(0.5)
        assert nginx_check(port, "/shop") == 401  # still the reloaded contract
        assert request(port, "GET", "/healthz", {"Host": "x"})[0] == 200
    finally:
        assert process.stop() == 0
    assert "reload (signal) refused" in process.output()  # serve's reload code and message
