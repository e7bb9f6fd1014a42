"""Request-path normalization (RFC 3986 6.2.2), done once before routing so that every stage, and the
upstream, sees the same path the route was chosen for. Ambiguous paths are refused, not guessed."""

from __future__ import annotations

import re
from typing import Final

from frontdoor.memo import Memo

# RFC 3986 2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_UNRESERVED: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# RFC 3986 3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@", plus "/" between segments
_PATH_CHARS: Final = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_HEX: Final = frozenset("0123456789abcdefABCDEF")


class PathError(ValueError):
    """The path cannot be routed safely; the gateway answers 400."""


# Pure, and called for every request with a handful of distinct paths: answers are kept in a bounded
# memo; refusals are raised again, never kept.
_NORMALIZED: Final[Memo[str, str]] = Memo(4096)


def normalize_path(raw: str) -> str:
    """``/a/./b/../%7Ec`` -> ``/a/~c``. Raises PathError for what a proxy must not guess at."""
    normalized = _NORMALIZED.get(raw)
    if normalized is None:
        normalized = _NORMALIZED.keep(raw, _normalize(raw))
    return normalized


def _normalize(raw: str) -> str:
    if not raw.startswith("/"):
        raise PathError("the request path must start with '/'")
    if not _PATH_CHARS.match(raw):
        raise PathError("the request path has characters that must be percent-encoded")
    decoded = decode_unreserved(raw) if "%" in raw else raw
    if "." not in decoded:
        return decoded
    return _remove_dot_segments(decoded)


def decode_unreserved(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        pair = raw[i + 1 : i + 3]
        if len(pair) != 2 or not set(pair) <= _HEX:
            raise PathError("the request path has a malformed percent-encoding")
        value = int(pair, 16)
        if value < 0x20 or value == 0x7F:
            # A NUL ends a string in C upstreams, CR and LF split log lines and headers: nginx refuses
            # a NUL too, so every edge answers this path alike.
            raise PathError("the request path encodes a control character")
        if value in (0x2F, 0x5C):
            # An encoded slash or backslash would route as one segment here and as two upstream.
            raise PathError("an encoded slash in the path is refused")
        if value in _UNRESERVED:
            out.append(chr(value))
        else:
            out.append("%" + pair.upper())
        i += 3
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    segments = path.split("/")[1:]
    result: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                result.append("")
            continue
        if segment == "..":
            if not result:
                raise PathError("the path climbs above the root")
            result.pop()
            if last:
                result.append("")
            continue
        result.append(segment)
    return "/" + "/".join(result)


def strip_route_prefix(path: str, prefix: str) -> str:
    """The path an upstream sees when its route strips the matched prefix."""
    if prefix == "/":
        return path
    rest = path[len(prefix) :]
    return rest if rest.startswith("/") else "/" + rest
