"""Typed scalar values of the contract, parsed once at load time.

Every parser here takes what a person wrote in YAML and returns a small frozen value, or raises
``ValueError`` with a message that says what was expected. The pydantic models wrap them with
``BeforeValidator`` so a bad value is reported at its file and line like any other error.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from frontdoor.contract.hints import PATH_CHARS, foreign_secret_scheme, path_pattern_hint
from frontdoor.http.paths import PathError, decode_unreserved

# --- sizes -----------------------------------------------------------------------------------------

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object) -> int:
    """``16KiB`` -> 16384. Binary (KiB, Ki) and decimal (KB, k) units; a bare number is bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1MiB or 16KiB, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size such as 1MiB or 16KiB, got {type(value).__name__}")
    match = _SIZE_RE.match(value)
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"{value!r} is not a size: write a number and a unit, such as 1MiB, 16KiB or 512B")
    number = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if number != int(number):
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(number)


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


# --- durations -------------------------------------------------------------------------------------

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


def parse_duration(value: object) -> float:
    """``500ms`` -> 0.5, ``1m30s`` -> 90.0 (seconds). A bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 2s, 500ms or 1m, not a boolean")
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(
                f"{value!r} is not a duration: write a number and a unit, such as 2s, 500ms or 1m"
            )
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"expected a duration such as 2s, 500ms or 1m, got {type(value).__name__}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


# --- secret references -----------------------------------------------------------------------------

SecretScheme = Literal["secret", "env", "file"]
_SECRET_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a secret, never the secret itself: ``secret:NAME``, ``env:VAR`` or ``file:PATH``."""

    scheme: SecretScheme
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


def parse_secret_ref(value: object) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    hint = "a reference such as secret:NAME, env:VAR or file:/path; never the value itself"
    if not isinstance(value, str):
        raise ValueError(f"expected {hint}")
    foreign = foreign_secret_scheme(value)
    if foreign:
        raise ValueError(
            f"a {foreign}: reference is not read by frontdoor, which accepts secret:NAME (in an Edge), "
            f"env:VAR and file:/path: let your {foreign} agent or operator write the secret to a file "
            "(file:/run/secrets/NAME) or export it (env:VAR)"
        )
    scheme, sep, target = value.partition(":")
    if not sep or scheme not in ("secret", "env", "file"):
        raise ValueError(f"expected {hint}")
    if scheme == "secret" and not _SECRET_NAME.match(target):
        raise ValueError(f"{value!r}: a secret name is lowercase letters, digits, '.', '_' and '-'")
    if scheme == "env" and not _ENV_NAME.match(target):
        raise ValueError(f"{value!r}: an environment variable name is letters, digits and '_'")
    if scheme == "file" and not target.startswith("/"):
        raise ValueError(
            f"{value!r}: a file reference needs an absolute path, such as file:/etc/frontdoor/key"
        )
    return SecretRef(scheme, target)  # type: ignore[arg-type]


# --- addresses and networks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """``host:port`` to bind: an IP literal (``[::]`` for IPv6) or ``localhost``."""

    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def is_wildcard(self) -> bool:
        return self.host in ("0.0.0.0", "::")

    def overlaps(self, other: ListenAddress) -> bool:
        """Two listeners that cannot both bind: same port, and same or wildcard address."""
        if self.port != other.port:
            return False
        return self.host == other.host or self.is_wildcard or other.is_wildcard

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(value: object) -> ListenAddress:
    if isinstance(value, ListenAddress):
        return value
    hint = "expected host:port, such as 0.0.0.0:8443, 127.0.0.1:8080 or [::]:8443"
    if not isinstance(value, str):
        raise ValueError(hint)
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{value!r}: {hint}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r}: port must be between 1 and 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ip(host) or ipaddress.ip_address(host).version != 6:
            raise ValueError(f"{value!r}: brackets are for IPv6 addresses")
    elif ":" in host:
        raise ValueError(f"{value!r}: write IPv6 addresses in brackets, such as [::1]:8443")
    if host != "localhost" and not _is_ip(host):
        raise ValueError(f"{value!r}: listen on an IP address (0.0.0.0 for all) or localhost, not a name")
    return ListenAddress(host, port)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_cidr(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a network such as 10.0.0.0/8 or an address such as 192.0.2.7")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not a network such as 10.0.0.0/8") from None
        raise ValueError(f"{value!r} has host bits set: did you mean {loose}?") from None


# --- URLs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Url:
    """An absolute http(s) URL, split once."""

    scheme: str
    host: str
    port: int
    path: str
    text: str

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        return _is_ip(self.host) and ipaddress.ip_address(self.host).is_loopback

    def __str__(self) -> str:
        return self.text


def parse_url(value: object) -> Url:
    if isinstance(value, Url):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an absolute URL such as https://login.example.com/")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r}: expected an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError(f"{value!r}: credentials do not belong in a URL; use a secret reference")
    default_port = 443 if parts.scheme == "https" else 80
    return Url(parts.scheme, parts.hostname, port or default_port, parts.path or "/", value)


# --- HTTP tokens, scopes, claims -------------------------------------------------------------------

# RFC 9110 5.6.2: token = 1*tchar
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def parse_method(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("an HTTP method is a word such as GET or POST")
    if not _TOKEN.match(value):
        raise ValueError(f"{value!r} is not an HTTP method: use GET, POST, PUT, PATCH, DELETE, ...")
    method = value.upper()
    if method not in KNOWN_METHODS:
        raise ValueError(f"{value!r} is not an HTTP method: use one of {', '.join(KNOWN_METHODS)}")
    return method


# RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def parse_scope(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a scope is a string such as orders:read")
    if not _SCOPE.match(value):
        raise ValueError(f"{value!r} is not an OAuth scope: one word of printable characters, no quotes")
    return value


ClaimScalar = str | int | bool


def parse_claim_value(value: object) -> ClaimScalar:
    if isinstance(value, str | int | bool) and not isinstance(value, float):
        return value
    raise ValueError("a claim value is a string, a whole number or a boolean")


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def parse_host(value: object) -> str:
    """``*``, ``*.example.com``, a DNS name or an IP literal, lowercased (RFC 9110 4.2.3: caseless)."""
    if not isinstance(value, str) or not value:
        raise ValueError("expected a host name such as shop.example.com, *.example.com or *")
    host = value.lower().rstrip(".")
    if host == "*" or _is_ip(host):
        return host
    labels = host[2:].split(".") if host.startswith("*.") else host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(
            f"{value!r} is not a host name: use letters, digits and '-', such as shop.example.com"
        )
    return host


# --- route paths -----------------------------------------------------------------------------------

_PATH_CHARS = PATH_CHARS


@dataclass(frozen=True, slots=True)
class RoutePath:
    """``/orders`` (prefix on segment boundaries) or ``=/orders`` (exact)."""

    path: str
    exact: bool

    def __str__(self) -> str:
        return f"={self.path}" if self.exact else self.path


def parse_route_path(value: object) -> RoutePath:
    if isinstance(value, RoutePath):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a path such as /orders (prefix) or =/orders (exact)")
    exact = value.startswith("=")
    path = value[1:] if exact else value
    pattern_hint = path_pattern_hint(path)
    if pattern_hint:
        raise ValueError(pattern_hint)
    if not _PATH_CHARS.match(path):
        raise ValueError(f"{value!r}: a route path starts with '/' and has no spaces, '?' or '#'")
    segments = path.split("/")
    if any(s in (".", "..") for s in segments) or "//" in path:
        raise ValueError(f"{value!r}: a route path has no '.', '..' or empty segments")
    try:
        # the same decoding requests get, so that "/a%7Eb" matches a request for "/a~b"
        path = decode_unreserved(path)
    except PathError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    if any(s in (".", "..") for s in path.split("/")):
        raise ValueError(f"{value!r}: a route path has no '.' or '..' segments, encoded or not")
    if len(path) > 1 and path.endswith("/") and not exact:
        path = path.rstrip("/")  # a prefix matches on segment boundaries, so "/a/" means "/a"
    return RoutePath(path, exact)


# --- pydantic annotations --------------------------------------------------------------------------


def _string_schema(description: str, pattern: str | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if pattern:
        schema["pattern"] = pattern
    return WithJsonSchema(schema)


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?\s*([KkMmGg]i?[Bb]?|[Bb])?$"},
                {"type": "integer", "minimum": 0},
            ],
            "description": "bytes, or a size with a unit: 512B, 16KiB, 1MiB, 1GiB (KB/MB/GB are decimal)",
        }
    ),
]
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^((\d+(\.\d+)?(ms|s|m|h|d))+|\d+(\.\d+)?)$"},
                {"type": "number"},
            ],
            "description": "a duration: 500ms, 2s, 1m, 1m30s; a bare number is seconds",
        }
    ),
]
Secret = Annotated[
    SecretRef,
    BeforeValidator(parse_secret_ref),
    PlainSerializer(str, return_type=str),
    _string_schema("a secret reference: secret:NAME, env:VAR or file:/path", r"^(secret|env|file):.+$"),
]
Listen = Annotated[
    ListenAddress,
    BeforeValidator(parse_listen),
    PlainSerializer(str, return_type=str),
    _string_schema("host:port to listen on, such as 0.0.0.0:8443 or [::]:8443"),
]
Network = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    BeforeValidator(parse_cidr),
    PlainSerializer(str, return_type=str),
    _string_schema("a network in CIDR notation, such as 10.0.0.0/8"),
]
HttpUrl = Annotated[
    Url,
    BeforeValidator(parse_url),
    PlainSerializer(str, return_type=str),
    _string_schema("an absolute http(s) URL", r"^https?://"),
]
Method = Annotated[
    str,
    BeforeValidator(parse_method),
    _string_schema("an HTTP method", r"^[A-Za-z]+$"),
]
Scope = Annotated[str, BeforeValidator(parse_scope), _string_schema("an OAuth 2.0 scope")]
ClaimValue = Annotated[
    ClaimScalar,
    BeforeValidator(parse_claim_value),
    WithJsonSchema({"type": ["string", "integer", "boolean"]}),
]
Host = Annotated[
    str, BeforeValidator(parse_host), _string_schema("a host name, *.example.com, or * for any host")
]
PathPattern = Annotated[
    RoutePath,
    BeforeValidator(parse_route_path),
    PlainSerializer(str, return_type=str),
    _string_schema("a path prefix such as /orders, or =/orders for an exact path", r"^=?/"),
]

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
