"""Route selection, as Kubernetes Gateway API matches HTTPRoute rules.

A request matches a route only if its host, path and method all match. The host chooses the entrypoint
(exact, then the longest ``*.suffix``, then ``*``). Among that entrypoint's routes whose path and method
match, the most specific wins: an exact path (``=/p``) beats a prefix, a longer prefix beats a shorter
one, and on one path a route that lists the method beats one that allows it only as ``HEAD`` for a
``GET``, which beats one without ``methods``; then the contract's order. So a method that one path does
not allow falls back to a shorter path that allows it; 405 only when some route matches the path but
none of them allows the method.

The fallback is folded into the tables when they are built: every exact path and every prefix holds,
per method, the route the whole precedence chooses. A lookup is the path's dict probe (one per segment
for prefixes) and one or two probes for the method.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from frontdoor.memo import Memo
from frontdoor.plan import PlannedEntrypoint, PlannedRoute


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """``route`` is set on a match; otherwise ``status`` is 404 (no path) or 405 (method not allowed)."""

    status: int
    route: PlannedRoute | None = None
    entrypoint: PlannedEntrypoint | None = None
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _MethodTable:
    """What one path (exact, or a prefix with everything it falls back to) answers per method."""

    by_method: dict[str, PlannedRoute]  # every method some route of the chain lists (HEAD for GET)
    any_method: PlannedRoute | None  # for every other method: the most specific route without methods
    allowed: tuple[str, ...]  # the Allow header of a 405 (only when any_method is None)

    def pick(self, method: str) -> PlannedRoute | None:
        route = self.by_method.get(method)
        return self.any_method if route is None else route

    def reachable(self) -> tuple[PlannedRoute, ...]:
        """Every route some method reaches from this path, once each."""
        found: list[PlannedRoute] = []
        for route in [*self.by_method.values(), *([self.any_method] if self.any_method else [])]:
            if not any(route is seen for seen in found):  # routes hold dicts: not hashable
                found.append(route)
        return tuple(found)


_NOTHING = _MethodTable({}, None, ())


def _own_table(routes: list[PlannedRoute]) -> tuple[dict[str, PlannedRoute], PlannedRoute | None]:
    """The routes of one path alone: listed methods first, then HEAD for a GET, then the first route
    without methods; the contract's order breaks ties."""
    by_method: dict[str, PlannedRoute] = {}
    any_method: PlannedRoute | None = None
    for route in routes:
        if route.methods is None:
            any_method = any_method or route
            continue
        for method in sorted(route.methods):
            by_method.setdefault(method, route)
    for route in routes:
        # RFC 9110 9.3.2: HEAD is GET without the body; a route listing HEAD itself comes first
        if route.methods is not None and "GET" in route.methods:
            by_method.setdefault("HEAD", route)
    return by_method, any_method


def _fall_back(routes: list[PlannedRoute], shorter: _MethodTable) -> _MethodTable:
    """This path's routes, and for any method none of them allows, the shorter path's choice."""
    own, own_any = _own_table(routes)
    if own_any is not None:
        # this path answers every method: nothing shorter is ever reached from here
        return _MethodTable(own, own_any, ())
    by_method = {**shorter.by_method, **own}
    any_method = shorter.any_method
    allowed = () if any_method is not None else tuple(sorted(by_method))
    return _MethodTable(by_method, any_method, allowed)


def _parent(path: str) -> str | None:
    """The next shorter prefix to try for ``path`` (already without a trailing '/'), None after '/'."""
    if path == "/":
        return None
    return path[: path.rfind("/")] or "/"


class RouteTable:
    """The routes of one entrypoint, each path's table built with its fallback."""

    def __init__(self, entrypoint: PlannedEntrypoint) -> None:
        self.entrypoint = entrypoint
        exact: dict[str, list[PlannedRoute]] = {}
        prefix: dict[str, list[PlannedRoute]] = {}
        for route in entrypoint.routes:  # the contract's order, kept in each list
            (exact if route.path.exact else prefix).setdefault(route.path.path, []).append(route)
        self._prefix: dict[str, _MethodTable] = {}
        # shortest first, so that a prefix's shorter prefixes are built before it
        for path in sorted(prefix, key=len):
            self._prefix[path] = _fall_back(prefix[path], self._shorter(_parent(path)))
        self._exact: dict[str, _MethodTable] = {
            path: _fall_back(routes, self._longest_prefix(path) or _NOTHING) for path, routes in exact.items()
        }

    def _shorter(self, path: str | None) -> _MethodTable:
        return _NOTHING if path is None else self._longest_prefix(path) or _NOTHING

    def reachable(self) -> list[tuple[str, tuple[PlannedRoute, ...]]]:
        """Each route path (``=/p`` or ``/p``) with every route a request for it may reach, by method:
        its own and those of the shorter paths it falls back to. A target that routes by path alone
        must send them all to one place."""
        found = [(f"={path}", table.reachable()) for path, table in self._exact.items()]
        found += [(path, table.reachable()) for path, table in self._prefix.items()]
        return sorted(found)

    def match(self, path: str, method: str) -> RouteMatch:
        table = self._exact.get(path) or self._longest_prefix(path)
        if table is None:
            return RouteMatch(404, entrypoint=self.entrypoint)
        route = table.pick(method)
        if route is None:
            return RouteMatch(405, entrypoint=self.entrypoint, allowed=table.allowed)
        return RouteMatch(200, route, self.entrypoint)

    def _longest_prefix(self, path: str) -> _MethodTable | None:
        """The longest prefix on a segment boundary; a trailing '/' on the request is ignored."""
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
        self._memo: Memo[tuple[str, str, str], RouteMatch] = Memo(self.MEMO_SIZE)
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
            found = self._memo.keep(key, matched)
        return found
