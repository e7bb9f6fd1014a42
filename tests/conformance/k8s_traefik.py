"""Traefik (IngressRoute, v3 rule syntax) as it matches a request: the matching rule of the highest
priority wins (``priority``, else the length of the ``match`` text); ``Host`` is case-insensitive,
``HostRegexp`` a Go-style regular expression on the host, ``Path`` exact, ``PathPrefix`` a plain
string prefix, ``Method`` the request's method. Traefik sanitizes the path before it matches and
forwards the sanitized path: unreserved characters decoded, then Go's path.Clean (dot segments and
duplicate slashes, k8s_model.sanitize). No rule matches: 404 (Traefik has no 405).

Middlewares run in their order: ``forwardAuth`` asks the authz (its X-Forwarded-For the peer's
address only, unless ``trustForwardHeader``: seen on Traefik 3.7), ``stripPrefix`` removes a prefix
(``/`` when nothing is left), ``buffering.maxRequestBodyBytes`` refuses a larger body with 413."""

from __future__ import annotations

import re
from collections.abc import Callable

from .k8s_model import Object, Reach, Refused, backend_service, decode, host_of, name, of_kind, sanitize

Request = tuple[str, str, str]  # method, host, path
Predicate = Callable[[Request], bool]

_TOKEN = re.compile(r"\s*(?:(&&)|(\|\|)|(!)|(\()|(\))|([A-Za-z]+)\(((?:\s*`[^`]*`\s*,?)*)\))")


def _matcher(function: str, args: list[str]) -> Predicate:
    if function == "Host":
        return lambda r: r[1] in {a.lower() for a in args}
    if function == "HostRegexp":
        patterns = [re.compile(a) for a in args]
        return lambda r: any(p.search(r[1]) for p in patterns)
    if function == "Path":
        return lambda r: r[2] in args
    if function == "PathPrefix":
        return lambda r: any(r[2].startswith(a) for a in args)
    if function == "Method":
        return lambda r: r[0] in args
    raise NotImplementedError(f"Traefik matcher {function}")


def parse_rule(text: str) -> Predicate:
    """A rule's ``match`` text as a predicate (``&&`` binds tighter than ``||``)."""
    tokens: list[tuple[str, Predicate | None]] = []
    position = 0
    while position < len(text.rstrip()):
        found = _TOKEN.match(text, position)
        if found is None:
            raise ValueError(f"cannot read the rule at {text[position:]!r}")
        position = found.end()
        if found.group(6):
            tokens.append(("call", _matcher(found.group(6), re.findall(r"`([^`]*)`", found.group(7)))))
        else:
            tokens.append((next(g for g in found.groups()[:5] if g), None))
    index = 0

    def either() -> Predicate:
        nonlocal index
        terms = [both()]
        while index < len(tokens) and tokens[index][0] == "||":
            index += 1
            terms.append(both())
        return lambda r: any(term(r) for term in terms)

    def both() -> Predicate:
        nonlocal index
        factors = [unary()]
        while index < len(tokens) and tokens[index][0] == "&&":
            index += 1
            factors.append(unary())
        return lambda r: all(factor(r) for factor in factors)

    def unary() -> Predicate:
        nonlocal index
        kind, value = tokens[index]
        index += 1
        if kind == "!":
            inner = unary()
            return lambda r: not inner(r)
        if kind == "(":
            inner = either()
            assert tokens[index][0] == ")", text
            index += 1
            return inner
        assert kind == "call" and value is not None, text
        return value

    predicate = either()
    assert index == len(tokens), text
    return predicate


class Traefik:
    def __init__(self, found: list[Object]) -> None:
        self.found = found
        self.middlewares = {name(m): m["spec"] for m in of_kind(found, "Middleware")}
        self.rules = [
            (int(rule.get("priority") or len(rule["match"])), order, route, rule, parse_rule(rule["match"]))
            for order, (route, rule) in enumerate(
                (route, rule) for route in of_kind(found, "IngressRoute") for rule in route["spec"]["routes"]
            )
        ]

    def reach(self, method: str, host: str, target: str, headers: dict[str, str] | None = None) -> Reach:
        path, query = decode(target)
        path = sanitize(path)
        request = (method, host_of(host), path)
        matching = [entry for entry in self.rules if entry[4](request)]
        if not matching:
            raise Refused(404, "no router matches")
        _priority, _order, route, rule, _ = max(matching, key=lambda e: (e[0], -e[1]))
        reach = Reach(
            f"IngressRoute {name(route)} priority {_priority}",
            backend_service(self.found, rule["services"][0]["name"]),
            path + query,
        )
        current = path
        for reference in rule.get("middlewares", []):
            spec = self.middlewares[reference["name"]]
            if "forwardAuth" in spec:
                reach.authz, reach.authz_target = True, current + query
                reach.identity_headers = tuple(spec["forwardAuth"].get("authResponseHeaders", ()))
                # without trustForwardHeader the check's X-Forwarded-For is Traefik's peer alone
                reach.forwards_client_for = bool(spec["forwardAuth"].get("trustForwardHeader", False))
            if "stripPrefix" in spec:
                prefix = next((p for p in spec["stripPrefix"]["prefixes"] if current.startswith(p)), "")
                current = current[len(prefix) :]
                current = current if current.startswith("/") else "/" + current
            if "buffering" in spec and "maxRequestBodyBytes" in spec["buffering"]:
                reach.body_limit = int(spec["buffering"]["maxRequestBodyBytes"])
        reach.upstream = current + query
        return reach
