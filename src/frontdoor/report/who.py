"""``frontdoor who``: for one request, the route that would match and the teams who own it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from frontdoor.contract.loaded import Contract
from frontdoor.contract.values import parse_method
from frontdoor.errors import FrontdoorError
from frontdoor.http.paths import PathError, normalize_path
from frontdoor.plan import compile_plan
from frontdoor.policy.routing import Router
from frontdoor.report.jsonout import route_json
from frontdoor.verdict.environment import RouteView, route_view


class RequestError(FrontdoorError):
    pass


@dataclass
class WhoAnswer:
    method: str
    url: str
    status: int  # 200 matched, 404 no route, 405 method not allowed, 400 path refused
    reason: str
    route: RouteView | None = None
    allowed: tuple[str, ...] = ()

    def json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "reason": self.reason,
            "allowed": list(self.allowed),
            "route": route_json(self.route) if self.route else None,
        }


def _split(url: str) -> tuple[SplitResult, int | None]:
    """The URL's parts and port, or a RequestError saying what is wrong with it (never urllib's
    ValueError, which the command would print as a traceback)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": a "[" without its "]"
        raise RequestError(f"{url}: not a URL ({exc}); e.g. https://shop.example.com/orders/7") from None
    try:
        port = parts.port
    except ValueError:
        # the text decides: "abc" is not a number, 99999 is a number out of range
        text = parts.netloc.rpartition(":")[2]
        if text.removeprefix("-").isdigit():
            raise RequestError(f"{url}: port {text} is out of range 1-65535") from None
        raise RequestError(f"{url}: the port {text!r} is not a number") from None
    if port == 0:
        raise RequestError(f"{url}: port 0 is out of range 1-65535")
    if not parts.hostname:
        raise RequestError(f"{url!r} names no host; e.g. https://shop.example.com/orders/7, or /orders/7")
    return parts, port


def who(contract: Contract, environment: str, method: str, url: str) -> WhoAnswer:
    try:
        method = parse_method(method)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if "://" not in url:
        url = "http://" + url if not url.startswith("/") else "http://localhost" + url
    parts, port = _split(url)
    host = parts.hostname or ""
    plan = compile_plan(contract, environment)
    try:
        path = normalize_path(parts.path or "/")
    except PathError as exc:
        return WhoAnswer(method, url, 400, f"the gateway refuses this path: {exc}")
    entrypoints = list(plan.entrypoints)
    if port is not None and any(e.listen.port == port for e in entrypoints):
        entrypoints = [e for e in entrypoints if e.listen.port == port]
    match = Router(entrypoints).match(host, path, method)
    if match.status == 404:
        where = f"host {host}" if match.entrypoint is None else f"entrypoint {match.entrypoint.name}"
        return WhoAnswer(method, url, 404, f"no route for {path} on {where} in {environment}")
    if match.status == 405 or match.route is None or match.entrypoint is None:
        return WhoAnswer(method, url, 405, f"{path} does not allow {method}", allowed=match.allowed)
    view = route_view(contract, plan, match.entrypoint, match.route)
    return WhoAnswer(method, url, 200, "matched", view)
