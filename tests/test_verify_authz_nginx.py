"""``frontdoor verify`` against the hand-written nginx of docs/authz.md: its ``auth_request`` block, read
from the page itself (so the page and this test cannot drift apart), ports filled in, run in a real
nginx in front of a real ``frontdoor authz``. verify must find it honouring the contract: a path no
route owns 404, a method no route allows 405, each as serve answers them, which auth_request alone
cannot (it passes on only 401 and 403)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .authz_support import BATCH_KEY, AccessContract, process_env, start_authz, start_idp
from .harness import Upstreams, free_port
from .test_render_nginx import NGINX, Nginx
from .verify_support import rules_of

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)")

DOC = Path(__file__).parent.parent / "docs" / "authz.md"


def documented_block() -> str:
    """The first ```nginx block of docs/authz.md's nginx section, as the page shows it."""
    text = DOC.read_text()
    section = text[text.index("## nginx (`auth_request`)") :]
    found = re.search(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert found is not None, "docs/authz.md's nginx section has no nginx block"
    return found.group(1)


def fill(block: str, old: str, new: str) -> str:
    """``old`` replaced by ``new``, where the page has it exactly once (a changed page fails here)."""
    assert block.count(old) == 1, f"docs/authz.md's nginx block no longer has one {old!r}"
    return block.replace(old, new)


def nginx_conf(root: Path, authz: int, port: int, upstream: int) -> str:
    block = fill(documented_block(), "server 127.0.0.1:9000;", f"server 127.0.0.1:{authz};")
    block = fill(block, "listen 8080;", f"listen 127.0.0.1:{port};")
    block = fill(block, "proxy_pass http://app;", f"proxy_pass http://127.0.0.1:{upstream};")
    temp = "\n".join(
        f"    {name}_temp_path {root}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"worker_processes 1;\nerror_log {root}/error.log info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {root}/access.log;\n{temp}\n{block}}}\n"
    )


@dataclass
class Stack:
    contract: AccessContract
    directory: Path
    port: int


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("verify-authz-nginx")
    upstreams = Upstreams()
    authz = nginx = None
    try:
        contract = AccessContract(idp_port=free_port(), upstream_port=upstreams.start("shop"))
        state = root / "state"
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        directory = contract.write(root / "contract")
        authz, authz_port = start_authz(
            directory, process_env(state), root / "authz.log", "--dialect", "nginx"
        )
        conf = root / "nginx.conf"
        conf.write_text(nginx_conf(root, authz_port, contract.port, contract.upstream_port))
        nginx = Nginx(root, conf, contract.port)
        yield Stack(contract, directory, contract.port)
    finally:
        if nginx is not None:
            nginx.stop()
        if authz is not None:
            authz.stop()
        upstreams.close()


def verify(capsys: pytest.CaptureFixture[str], stack: Stack, *extra: str) -> tuple[int, dict[str, Any]]:
    import json

    from frontdoor.cli import main

    code = main(
        [
            "verify", str(stack.directory), "--env", "dev", "--base-url", f"http://127.0.0.1:{stack.port}",
            "--host", "shop.test", "--rate", "500", "--format", "json", *extra,
        ]
    )  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def test_verify_passes_against_the_documented_nginx(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = verify(capsys, stack, "--api-key", f"batch={BATCH_KEY}", "--allow-writes")
    assert code == 0, report["findings"]
    # the answers auth_request cannot give by itself were probed, and given as serve gives them
    assert report["kinds"]["no-route"] == 1 and report["kinds"]["method"] >= 1
    assert report["kinds"]["api-key"] >= 1


def test_without_the_denied_location_verify_reports_the_drift(
    stack: Stack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same block without its error_page: every denial a 403, as the page once had it."""
    conf = Path(stack.directory.parent / "nginx.conf").read_text()
    broken = fill(conf, "error_page 403 = @frontdoor_denied;", "")
    port = free_port()
    broken = broken.replace(f"listen 127.0.0.1:{stack.port};", f"listen 127.0.0.1:{port};")
    for name in ("error.log", "access.log"):
        broken = broken.replace(str(stack.directory.parent / name), str(tmp_path / name))
    (tmp_path / "nginx.conf").write_text(broken)
    nginx = Nginx(tmp_path, tmp_path / "nginx.conf", port)
    try:
        code, report = verify(capsys, Stack(stack.contract, stack.directory, port), "--allow-writes")
    finally:
        nginx.stop()
    assert code == 1
    assert {"verify-no-route", "verify-method"} <= rules_of(report)
