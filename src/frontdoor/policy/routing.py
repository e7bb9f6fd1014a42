"""Route selection: host (exact, then *.suffix, then *), then path (exact '=', then the longest prefix on a
segment boundary), then method. Tables are built once; a lookup is a few dict probes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from frontdoor.memo import remember
from frontdoor.plan import PlannedEntrypoint, PlannedRoute


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """``route`` is set on a match; otherwise ``status`` is 404 (no path) or 405 (method not allowed)."""

    status: int
    route: PlannedRoute | None = None
    entrypoint: PlannedEntrypoint | None = None
    allowed: tuple[str, ...] = ()


@dataclass(slots=True)
class _MethodTable:
    by_method: dict[str, PlannedRoute] = field(default_factory=dict)
    any_method: PlannedRoute | None = None

    def add(self, route: PlannedRoute) -> None:
        if route.methods is None:
            self.any_method = self.any_method or route
            return
        for method in route.methods:
            self.by_method.setdefault(method, route)

    def pick(self, method: str) -> PlannedRoute | None:
        route = self.by_method.get(method)
        if route is None and method == "HEAD":
            route = self.by_method.get("GET")
        return route or self.any_method

    def allowed(self) -> tuple[str, ...]:
        methods = set(self.by_method)
        if "GET" in methods:
            methods.add("HEAD")
        return tuple(sorted(methods))


class RouteTable:
    """The routes of one entrypoint."""

    def __init__(self, entrypoint: PlannedEntrypoint) -> None:
        self.entrypoint = entrypoint
        self._exact: dict[str, _MethodTable] = {}
        self._prefix: dict[str, _MethodTable] = {}
        for route in entrypoint.routes:
            table = self._exact if route.path.exact else self._prefix
            table.setdefault(route.path.path, _MethodTable()).add(route)

    def match(self, path: str, method: str) -> RouteMatch:
        table = self._exact.get(path) or self._longest_prefix(path)
        if table is None:
            return RouteMatch(404, entrypoint=self.entrypoint)
        route = table.pick(method)
        if route is None:
            return RouteMatch(405, entrypoint=self.entrypoint, allowed=table.allowed())
        return RouteMatch(200, route, self.entrypoint)

    def _longest_prefix(self, path: str) -> _MethodTable | None:
        prefixes = self._prefix
        candidate = path.rstrip("/") or "/"
        while True:
            table = prefixes.get(candidate)
            if table is not None:
                return table
            if candidate == "/":
                return None
            cut = candidate.rfind("/")
            candidate = candidate[:cut] or "/"


def normalize_host(host: str) -> str:
    """Host header -> a name to match: lowercased, port and trailing dot removed (RFC 9110 7.2)."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    name, _, _port = host.partition(":")
    return name.rstrip(".")


class Router:
    """Entrypoints that share a listener, chosen by Host.

    The tables never change, so a match is a pure function of (host, path, method): recent answers are
    kept in a bounded cache, so that clients cannot grow it."""

    MEMO_SIZE = 4096

    def __init__(self, entrypoints: Iterable[PlannedEntrypoint]) -> None:
        self._memo: dict[tuple[str, str, str], RouteMatch] = {}
        self._exact: dict[str, RouteTable] = {}
        self._suffix: list[tuple[str, RouteTable]] = []
        self._any: RouteTable | None = None
        for entrypoint in entrypoints:
            table = RouteTable(entrypoint)
            for host in entrypoint.hosts:
                if host == "*":
                    self._any = self._any or table
                elif host.startswith("*."):
                    self._suffix.append((host[1:], table))
                else:
                    self._exact.setdefault(host, table)
        self._suffix.sort(key=lambda pair: -len(pair[0]))

    def table_for(self, host: str) -> RouteTable | None:
        name = normalize_host(host)
        table = self._exact.get(name)
        if table is not None:
            return table
        for suffix, candidate in self._suffix:
            if name.endswith(suffix) and len(name) > len(suffix):
                return candidate
        return self._any

    def match(self, host: str, path: str, method: str) -> RouteMatch:
        key = (host, path, method)
        found = self._memo.get(key)
        if found is None:
            table = self.table_for(host)
            matched = RouteMatch(404) if table is None else table.match(path, method)
            found = remember(self._memo, key, matched, self.MEMO_SIZE)
        return found
