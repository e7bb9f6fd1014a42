"""ingress-nginx as it matches a request, by its documentation ("Ingress path matching"):

- Host: a rule's exact host first; a wildcard ``*.suffix`` matches exactly one label (the Ingress
  spec). Every Ingress of a host is merged into one nginx server.
- Paths: ``Exact`` is ``location = path``; ``Prefix`` matches element-wise. When any Ingress of a
  host sets ``use-regex`` (or ``rewrite-target``), every path of that host becomes a case-insensitive
  regular expression anchored at its start (``location ~* ^path``). The longest path wins.
- nginx decodes and normalizes the URI before matching (a ``..`` above the root is a 400); the
  upstream receives the client's own URI, unless ``rewrite-target`` rewrites the normalized one.
- A request header line longer than the controller's ``large-client-header-buffers`` (ConfigMap,
  default ``4 8k``) is nginx's 400.
- ``auth-url``: the authz is asked with ``X-Original-Url``; only its 2xx, 401 and 403 are taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .k8s_model import Object, Reach, Refused, backend_service, host_of, name, normalize, of_kind

_ANNOTATION = "nginx.ingress.kubernetes.io/"
HEADER_BUFFER = 8192  # the controller's default large-client-header-buffers: 4 8k


@dataclass
class _Path:
    ingress: Object
    host: str
    path: str
    kind: str  # Exact | Prefix | ImplementationSpecific
    backend: str


def _annotation(ingress: Object, key: str) -> str | None:
    value = ingress["metadata"].get("annotations", {}).get(_ANNOTATION + key)
    return None if value is None else str(value)


def _regex_host(paths: list[_Path]) -> bool:
    return any(
        _annotation(p.ingress, "use-regex") == "true" or _annotation(p.ingress, "rewrite-target") is not None
        for p in paths
    )


class IngressNginx:
    def __init__(self, found: list[Object]) -> None:
        self.found = found
        self.paths = [
            _Path(
                ingress,
                str(rule.get("host", "")),
                str(p["path"]),
                str(p["pathType"]),
                p["backend"]["service"]["name"],
            )
            for ingress in of_kind(found, "Ingress")
            for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"]
        ]

    def _host_paths(self, host: str) -> list[_Path]:
        exact = [p for p in self.paths if p.host == host]
        if exact:
            return exact
        label, _, suffix = host.partition(".")
        return [p for p in self.paths if p.host == "*." + suffix and label]

    def reach(self, method: str, host: str, target: str, headers: dict[str, str] | None = None) -> Reach:
        if any(len(k) + 2 + len(v) > HEADER_BUFFER for k, v in (headers or {}).items()):
            raise Refused(400, "a header line over large-client-header-buffers (nginx's 494, answered 400)")
        paths = self._host_paths(host_of(host))
        if not paths:
            raise Refused(404, "no Ingress rule has the host (the default backend)")
        path, query = normalize(target, refuse_above_root=True)
        regex = _regex_host(paths)
        matching = [p for p in paths if self._matches(p, path, regex)]
        if not matching:
            raise Refused(404, "no Ingress path matches (the default backend)")
        # Exact first, then the longest path (ingress-nginx sorts locations so)
        chosen = min(matching, key=lambda p: (p.kind != "Exact", -len(p.path)))
        ingress = chosen.ingress
        upstream = target
        rewrite = _annotation(ingress, "rewrite-target")
        if rewrite is not None:
            found = re.match(chosen.path, path, re.IGNORECASE)
            assert found is not None
            upstream = found.expand(rewrite.replace("$", "\\")) + query
            upstream = upstream if upstream.startswith("/") else "/" + upstream
        body = _annotation(ingress, "proxy-body-size")
        reach = Reach(
            f"Ingress {name(ingress)} {chosen.path}",
            backend_service(self.found, chosen.backend),
            upstream,
            body_limit=int(body) if body and body.isdigit() else None,
            body_first=True,
        )
        if _annotation(ingress, "auth-url"):
            reach.authz, reach.authz_target = True, target  # X-Original-Url: $request_uri
            reach.identity_headers = tuple((_annotation(ingress, "auth-response-headers") or "").split(","))
        return reach

    @staticmethod
    def _matches(p: _Path, path: str, regex: bool) -> bool:
        if p.kind == "Exact":
            return path == p.path
        if p.kind == "ImplementationSpecific" or regex:
            return re.match("^" + p.path.lstrip("^"), path, re.IGNORECASE) is not None
        prefix = p.path.rstrip("/")
        return path == prefix or path.startswith(prefix + "/") or prefix == ""
