"""``frontdoor demo --port-base N``: the demo on ports of the user's choosing.

The demo serves a copy of the contract in which every local address the environment uses is moved to
N, N+1, ...: first the gateway's entrypoints, then the admin listener, the local identity providers
(issuer and JWKS URL together) and the upstreams, in the order the contract lists them. The copy is
rewritten as text, address by address, in the Edge's and the Environment's files only, so everything
else (line numbers included) stays as written; then it is loaded again and checked to listen exactly
where it should, so an address the rewrite missed is an error, not a demo half on the old ports.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from frontdoor.contract.load import load_valid_contract
from frontdoor.errors import FrontdoorError
from frontdoor.plan import Plan, compile_plan


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_addresses(plan: Plan) -> list[tuple[str, int]]:
    """Every (host, port) the demo binds, in the order ports are given out."""
    found: list[tuple[str, int]] = []
    found += [(e.listen.host, e.listen.port) for e in plan.entrypoints]
    admin = plan.edge.spec.admin
    if admin is not None:
        found.append((admin.listen.host, admin.listen.port))
    identity = plan.edge.spec.identity
    for provider in identity.providers if identity else ():
        if provider.issuer.scheme == "http" and provider.issuer.is_loopback:
            found.append((provider.issuer.host, provider.issuer.port))
    for pool in plan.upstreams.values():
        found += [(u.url.host, u.url.port) for u in pool if u.url.is_loopback]
    return list(dict.fromkeys(found))  # in order, each once (entrypoints may share an address)


def port_map(plan: Plan, base: int) -> dict[tuple[str, int], int]:
    addresses = local_addresses(plan)
    if base + len(addresses) - 1 > 65535:
        raise FrontdoorError(f"--port-base {base}: {len(addresses)} ports from it run past 65535")
    return {address: base + offset for offset, address in enumerate(addresses)}


def _rewrite(text: str, moves: dict[tuple[str, int], int]) -> str:
    """Every address moved at once (moving 8080 to 9101 and 9101 to 9102 one after the other would move
    8080 twice); the whole address only: 127.0.0.1:9101 is not the start of 127.0.0.1:91010."""
    new = {_address(host, port): _address(host, to) for (host, port), to in moves.items()}
    alternatives = "|".join(re.escape(old) for old in sorted(new, key=len, reverse=True))
    return re.sub(rf"(?<![\w.\-\[])(?:{alternatives})(?!\d)", lambda m: new[m.group(0)], text)


def moved_contract(directory: Path, environment: str, base: int, into: Path) -> Path:
    """A copy of ``directory`` under ``into`` whose ``environment`` listens and connects on the ports
    from ``base``; raises FrontdoorError when the copy would not."""
    contract = load_valid_contract(directory)
    plan = compile_plan(contract, environment)
    moves = port_map(plan, base)
    copy = into / directory.resolve().name
    shutil.copytree(directory, copy, symlinks=False)
    for kind, name in (("Edge", plan.edge.metadata.name), ("Environment", environment)):
        source = contract.sources[(kind, name)]
        target = copy / Path(source.file).resolve().relative_to(directory.resolve())
        target.write_text(_rewrite(target.read_text(encoding="utf-8"), moves), encoding="utf-8")
    moved = compile_plan(load_valid_contract(copy), environment)
    expected = sorted(_address(host, port) for (host, _), port in moves.items())
    actual = sorted(_address(host, port) for host, port in local_addresses(moved))
    if actual != expected:
        left = sorted(set(actual) - set(expected))
        raise FrontdoorError(
            f"--port-base {base}: could not move {', '.join(left)}; write each address as host:port"
        )
    return copy
