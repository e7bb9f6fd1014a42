"""Everything the matrix sends requests through, started once per module: the demo upstreams and the
local identity provider (in a thread), `frontdoor serve`, one `frontdoor authz` per ingress (each its
own process, so rate limits count per mode as they would per deployment), nginx twice (docs/authz.md's
auth_request, and the rendered nginx.conf), Caddy, and the renders of the Kubernetes targets.

Every authz shares serve's state directory, where the kill switch keeps its stops, when it takes one
(``--state-dir``): a stop through serve's admin API then reaches every mode."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from frontdoor.cli import build_parser
from frontdoor.contract.load import load_contract
from frontdoor.render import RenderOptions, render

from ..authz_support import probe, start_idp
from ..harness import Upstreams, free_port, stop_process
from .contract import ADMIN_TOKEN, STOPPED_ROUTE, STOPPED_SERVICE, UPSTREAMS, MatrixContract, secrets_env
from .ingress import auth_request_conf, start_caddy, start_nginx, stop, wait_listening
from .traefik_live import TRAEFIK, start_traefik

#: the Kubernetes modes the evaluator reads: mode -> (render target, --auth)
K8S_MODES: dict[str, tuple[str, str | None]] = {
    "gateway-api": ("gateway-api", None),  # native: Envoy Gateway checks tokens itself
    "gateway-api-external": ("gateway-api", "external"),  # every route asks frontdoor authz
    "ingress-nginx": ("ingress-nginx", None),
    "traefik": ("traefik", None),
}
#: the authz dialect of each ingress asking one
AUTHZ_DIALECTS = {
    "nginx-authz": "nginx",
    "nginx-rendered": "nginx",
    "caddy-authz": "traefik",
    "gateway-api": "envoy",
    "gateway-api-external": "envoy",
    "ingress-nginx": "nginx",
    "traefik": "traefik",
    "traefik-live": "traefik",  # its own process, as every mode's: rate limits count per deployment
}


def authz_takes_state_dir() -> bool:
    """Whether `frontdoor authz` shares serve's stops on this branch (the kill switch in authz)."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction) and "authz" in action.choices:
            return any("--state-dir" in a.option_strings for a in action.choices["authz"]._actions)
    return False


@dataclass
class Stack:
    contract: MatrixContract  # serve's
    keys: Path  # the identity provider's signing keys (for minting tokens)
    ports: dict[str, int]  # the port each real mode is asked on
    partner_ports: dict[str, int]  # the second entrypoint's, in the modes that listen per entrypoint
    authz: dict[str, int]  # the authz port of each ingress mode
    upstreams: dict[int, str]  # upstream port -> service
    renders: dict[str, dict[str, str]]  # Kubernetes mode -> its rendered files

    # what parity_cases.Minter asks of a setup
    @property
    def state(self) -> Path:
        return self.keys


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "frontdoor", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )


def _ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log.name} exited: {log.read_text(errors='replace')}")
        try:
            if probe(port, "/readyz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{log.name} did not become ready")


def _k8s_renders(contract: MatrixContract, root: Path) -> dict[str, dict[str, str]]:
    """The Kubernetes renders of a copy whose upstreams are cluster names (loopback cannot be rendered
    for a cluster): ``http://SERVICE.upstream.test:PORT``, the same port as the real upstream."""
    origins = {
        name: origin.replace("127.0.0.1", f"{name}.upstream.test")
        for name, origin in contract.origins.items()
    }
    directory = replace(contract, origins=origins).write(root / "k8s-contract")
    loaded = load_contract(directory)
    assert loaded.valid, loaded.findings
    return {
        mode: render(loaded.contract, "dev", target, RenderOptions(auth=auth))
        for mode, (target, auth) in K8S_MODES.items()
    }


def _stop_through_admin(contract: MatrixContract) -> None:
    import http.client

    for path in (f"/admin/services/{STOPPED_SERVICE}/stop", f"/admin/routes/{STOPPED_ROUTE}/stop"):
        connection = http.client.HTTPConnection("127.0.0.1", contract.admin_port, timeout=10)
        try:
            body = json.dumps({"reason": "conformance matrix"}).encode()
            connection.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            response = connection.getresponse()
            assert response.status == 200, (path, response.status, response.read())
            response.read()
        finally:
            connection.close()


def start_stack(root: Path) -> Iterator[Stack]:
    """The whole stack (a generator for a module-scoped fixture): everything stops when it resumes."""
    with ExitStack() as cleanup:
        upstreams = Upstreams()
        cleanup.callback(upstreams.close)
        origins, by_port = {}, {}
        for name in UPSTREAMS:
            port = upstreams.start(name)
            origins[name], by_port[port] = f"http://127.0.0.1:{port}", name
        contract = MatrixContract(idp_port=free_port(), origins=origins)
        keys, stops = root / "keys", root / "stops"
        start_idp(upstreams, contract.issuer, contract.idp_port, keys)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "FRONTDOOR_STATE_DIR": str(keys), **secrets_env()}

        serve = _spawn(
            [
                "serve",
                str(contract.write(root / "serve")),
                "--env",
                "dev",
                "--access-log",
                str(root / "serve.access.log"),
                "--health-interval",
                "0",
                "--state-dir",
                str(stops),
            ],
            env,
            root / "serve.log",
        )
        cleanup.callback(stop_process, serve)
        shared = ["--state-dir", str(stops)] if authz_takes_state_dir() else []
        authz: dict[str, int] = {}
        waiting = [(serve, contract.admin_port, root / "serve.log")]
        copies: dict[str, MatrixContract] = {}
        for mode, dialect in AUTHZ_DIALECTS.items():
            # each authz its own copy: its own admin port, should the Edge's admin be served by authz
            copies[mode] = copy = replace(
                contract, port=free_port(), partner_port=free_port(), admin_port=free_port()
            )
            authz[mode] = port = free_port()
            args = ["authz", str(copy.write(root / mode)), "--env", "dev", "--listen", f"127.0.0.1:{port}"]
            args += ["--dialect", dialect, "--access-log", str(root / f"{mode}.access.log"), *shared]
            if dialect == "envoy":
                args += ["--path-prefix", "/auth"]
            process = _spawn(args, env, root / f"{mode}.log")
            cleanup.callback(stop_process, process)
            waiting.append((process, port, root / f"{mode}.log"))
        for process, port, log in waiting:
            _ready(process, port, log)

        ports = {"serve": contract.port}
        shop = next(port for port, name in by_port.items() if name == "shop")
        # docs/authz.md's nginx: one location, every request asked, one upstream (the ingress's own)
        folder = root / "nginx-authz"
        ports["nginx-authz"] = free_port()
        nginx = start_nginx(
            folder, auth_request_conf(folder, ports["nginx-authz"], authz["nginx-authz"], shop), own_pid=False
        )
        cleanup.callback(stop, nginx)
        # the rendered nginx.conf, on the entrypoint of its own copy of the contract
        folder = root / "nginx-rendered"
        rendered = copies["nginx-rendered"]
        loaded = load_contract(root / "nginx-rendered")
        assert loaded.valid, loaded.findings
        files = render(
            loaded.contract,
            "dev",
            "nginx",
            RenderOptions(authz_url=f"http://127.0.0.1:{authz['nginx-rendered']}"),
        )
        (folder / "nginx.conf").write_text(files["nginx.conf"])
        ports["nginx-rendered"] = rendered.port
        rendered_nginx = start_nginx(folder, folder / "nginx.conf", own_pid=True)
        cleanup.callback(stop, rendered_nginx)
        ports["caddy-authz"] = free_port()
        caddy = start_caddy(root / "caddy", ports["caddy-authz"], authz["caddy-authz"], shop)
        cleanup.callback(stop, caddy)
        wait_listening(
            nginx, ports["nginx-authz"], root / "nginx-authz" / "nginx.out", "nginx (auth_request)"
        )
        wait_listening(rendered_nginx, ports["nginx-rendered"], folder / "nginx.out", "nginx (rendered)")
        wait_listening(caddy, ports["caddy-authz"], root / "caddy" / "caddy.out", "caddy")

        _stop_through_admin(contract)
        # a process sharing the stops reads them at most every 0.5 s (killswitch.POLL_S); the stopped rows
        # come last in the table, so this matters only when they are run alone
        time.sleep(1.0)
        partner_ports = {"serve": contract.partner_port, "nginx-rendered": rendered.partner_port}
        renders = _k8s_renders(contract, root)
        if TRAEFIK is not None:  # the traefik render on a real Traefik (the column is skipped without one)
            hosts = {f"{name}.upstream.test": "127.0.0.1" for name in UPSTREAMS}
            # the render puts every entrypoint without TLS on `web`: its installation trusts their proxies
            plain = [
                e for edge in loaded.contract.edges.values() for e in edge.spec.entrypoints if e.tls is None
            ]
            trusted = sorted({str(network) for e in plain for network in e.trusted_proxies})
            traefik, ports["traefik-live"] = start_traefik(
                root / "traefik-live", renders["traefik"], hosts, authz["traefik-live"], trusted
            )
            cleanup.callback(stop, traefik)
        yield Stack(contract, keys, ports, partner_ports, authz, by_port, renders)
