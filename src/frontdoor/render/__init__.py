"""``frontdoor render``: the contract compiled into what an existing platform runs.

Pure functions from the compiled Plan (plus the contract's teams, SLOs and events) to file contents;
only `write_files` touches the disk. Every target is deterministic: same contract, same bytes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import shutil
from collections.abc import Callable
from pathlib import Path

from frontdoor.contract.load import Contract
from frontdoor.plan import compile_plan
from frontdoor.render.caveats import caveats
from frontdoor.render.context import AUTH_EXTERNAL, AUTH_NATIVE, RenderError, RenderOptions, Site
from frontdoor.render.gateway_api import GatewayApiTarget
from frontdoor.render.grafana import render_grafana
from frontdoor.render.ingress_nginx import IngressNginxTarget
from frontdoor.render.kubernetes import Files, render_kubernetes
from frontdoor.render.nginx_conf import render_nginx
from frontdoor.render.prometheus import render_prometheus
from frontdoor.render.traefik import TraefikTarget

_MARKER = ".frontdoor-rendered"  # a directory with it was rendered, and may be replaced

__all__ = ["TARGETS", "RenderError", "RenderOptions", "render", "target_caveats", "write_files"]


def _kubernetes(target: GatewayApiTarget | IngressNginxTarget | TraefikTarget) -> Callable[[Site], Files]:
    return lambda site: render_kubernetes(site, target)


TARGETS: dict[str, Callable[[Site], Files]] = {
    "gateway-api": _kubernetes(GatewayApiTarget()),
    "ingress-nginx": _kubernetes(IngressNginxTarget()),
    "traefik": _kubernetes(TraefikTarget()),
    "nginx": render_nginx,
    "prometheus": render_prometheus,
    "grafana": render_grafana,
}


def render(contract: Contract, environment: str, target: str, options: RenderOptions | None = None) -> Files:
    """The files of ``target`` for ``environment``, by relative path. The contract must be valid."""
    renderer = TARGETS.get(target)
    if renderer is None:
        raise RenderError(f"unknown target {target!r}; choose one of {', '.join(sorted(TARGETS))}")
    options = options or RenderOptions()
    if options.auth not in (None, AUTH_NATIVE, AUTH_EXTERNAL):
        raise RenderError(f"--auth is {AUTH_NATIVE} or {AUTH_EXTERNAL}, not {options.auth!r}")
    if options.auth == AUTH_NATIVE and target != "gateway-api":
        raise RenderError(
            f"{target} enforces access only through frontdoor authz: --auth {AUTH_NATIVE} is for gateway-api"
        )
    for network in options.authz_trusted:
        try:
            ipaddress.ip_network(network, strict=True)
        except ValueError:
            raise RenderError(f"--authz-trusted {network}: expected a network such as 10.0.0.0/8") from None
    auth = options.auth or (AUTH_NATIVE if target == "gateway-api" else AUTH_EXTERNAL)
    options = dataclasses.replace(options, auth=auth)
    return renderer(Site(contract, compile_plan(contract, environment), options))


def target_caveats(contract: Contract, environment: str, target: str) -> list[str]:
    """What ``target`` will decide differently from serve for this contract (render/caveats.py)."""
    return caveats(compile_plan(contract, environment), target)


def write_files(out: Path, files: Files) -> list[Path]:
    """Write ``files`` under ``out``. What frontdoor rendered there before is replaced, so a file that
    is no longer rendered does not linger; a directory holding anything else is refused. A path that
    cannot be written (under a file, read-only, in /proc) is a RenderError naming it, not a traceback."""
    try:
        return _write_files(out, files)
    except OSError as exc:
        where = exc.filename or out
        raise RenderError(f"cannot write {where}: {exc.strerror or exc}") from None


def _write_files(out: Path, files: Files) -> list[Path]:
    if out.exists():
        if not out.is_dir():
            raise RenderError(f"{out} exists and is not a directory")
        if any(out.iterdir()) and not (out / _MARKER).is_file():
            raise RenderError(
                f"{out} is not empty and was not rendered by frontdoor; render into a new directory"
            )
        shutil.rmtree(out)
    written = []
    for relative in sorted(files):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[relative], encoding="utf-8")
        written.append(path)
    (out / _MARKER).write_text("rendered by frontdoor render; this directory is replaced on each render\n")
    return written
