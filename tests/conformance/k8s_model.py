"""What the Kubernetes evaluators share: the rendered objects, read back from YAML; where a platform
sends a request (:class:`Reach`); and the path normalization the three data planes apply before they
match (RFC 3986 section 6.2.2: percent-encoded unreserved characters decoded, dot segments removed).

The evaluators never import frontdoor's router or path code: they read only the rendered files and
apply each platform's documented semantics, so that a render that means something else than the
contract shows up as a difference from serve."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

Object = dict[str, Any]


def objects(files: dict[str, str]) -> list[Object]:
    """Every Kubernetes object of a render, in file order."""
    found: list[Object] = []
    for name in sorted(files):
        if name.endswith((".yaml", ".yml")):
            found.extend(doc for doc in yaml.safe_load_all(files[name]) if isinstance(doc, dict))
    return found


def of_kind(found: list[Object], kind: str) -> Iterator[Object]:
    return (o for o in found if o.get("kind") == kind)


def name(obj: Object) -> str:
    return str(obj["metadata"]["name"])


@dataclass
class JwtPolicy:
    """Envoy Gateway's native JWT check (a SecurityPolicy's ``jwt`` and ``authorization``)."""

    providers: list[Object]
    rules: list[Object]  # authorization rules (Allow); empty: any valid token
    default_deny: bool


@dataclass
class Reach:
    """Where a platform sends a request: the rule that matched, the backend service, the target the
    upstream receives, and what decides access on the way."""

    rule: str
    backend: str  # the contract service whose upstream the backend object points at
    upstream: str
    authz: bool = False  # the route asks frontdoor authz
    jwt: JwtPolicy | None = None  # the route checks tokens natively
    rate_limits: list[Object] = field(default_factory=list)  # native local rate limits (Envoy Gateway)
    body_limit: int | None = None
    identity_headers: tuple[str, ...] = ()  # what the platform copies from authz's 200 to the upstream
    authz_target: str = ""  # the target the authz is asked about
    authz_headers: tuple[str, ...] | None = None  # the client headers the check carries (None: all)
    body_first: bool = False  # the body limit is checked before access (nginx reads it first)
    #: the check carries the client's X-Forwarded-For (Traefik's trustForwardHeader); else only the
    #: platform's peer, which the platform sends as the check's X-Forwarded-For
    forwards_client_for: bool = True


class Refused(Exception):
    """The data plane answers by itself (no rule, a path it refuses): ``status``."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


_UNRESERVED = re.compile(r"%(4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])")


def decode(target: str) -> tuple[str, str]:
    """(path, query) with the percent-encoded unreserved characters of the path decoded; Refused(400)
    for NUL, which no platform forwards."""
    path, mark, query = target.partition("?")
    if "%00" in path or "\x00" in path:
        raise Refused(400, "NUL in the path")
    return _UNRESERVED.sub(lambda m: chr(int(m.group(1), 16)), path), (mark + query)


def normalize(target: str, refuse_above_root: bool = False) -> tuple[str, str]:
    """(path, query) as the data plane matches it; Refused(400) for NUL, which no platform forwards,
    and, with ``refuse_above_root`` (nginx), for a ``..`` above the root."""
    path, query = decode(target)
    return remove_dot_segments(path, refuse_above_root), query


def sanitize(path: str) -> str:
    """Traefik's sanitizePath (on by default, an entry point's static option), seen on Traefik 3.7:
    Go's path.Clean (empty and ``.`` segments dropped, so duplicate slashes merge; a ``..`` removes the
    segment before it, none above the root), then the trailing slash put back if the path had one:
    ``/a//../b`` is ``/b``, ``/a/x/..`` is ``/a``, where RFC 3986 5.2.4 gives ``/a/b`` and ``/a/``."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment not in ("", "."):
            kept.append(segment)
    cleaned = "/" + "/".join(kept)
    return cleaned + "/" if path.endswith("/") and cleaned != "/" else cleaned


def remove_dot_segments(path: str, refuse_above_root: bool = False) -> str:
    """RFC 3986 section 5.2.4: a ``..`` above the root stays at the root (Envoy, Traefik), unless
    ``refuse_above_root`` (nginx answers 400)."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments[1:], 1):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if output:
                output.pop()
            elif refuse_above_root:
                raise Refused(400, "a .. above the root")
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)


def host_of(host: str) -> str:
    """The Host header as the platforms match it: without the port, in lower case."""
    if host.startswith("["):
        return host.partition("]")[0].lower() + "]"
    return host.rpartition(":")[0].lower() if ":" in host else host.lower()


def backend_service(found: list[Object], backend: str) -> str:
    """The contract service a Backend / ExternalName Service points at (``SERVICE.upstream.test``)."""
    for obj in found:
        if obj.get("kind") in ("Backend", "Service") and name(obj) == backend:
            spec = obj["spec"]
            host = spec.get("externalName") or spec["endpoints"][0]["fqdn"]["hostname"]
            return str(host).partition(".")[0]
    raise KeyError(f"no Backend or Service {backend} in the render")
