"""The gateway's own cookies: written with the attributes a session cookie needs, read back from the
request's Cookie fields, and taken out of the request before it goes upstream.

Attributes (RFC 6265bis): ``HttpOnly`` (no script reads it), ``Secure`` when the client came over TLS,
``SameSite=Lax`` (sent on a top-level navigation back from the identity provider, not on cross-site
subrequests), ``Path=/``. Browsers keep about 4 KiB per cookie, so a long value is split into numbered
cookies, ``name``, ``name.1``, ``name.2``..., joined again when read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from frontdoor.http.h1 import RequestHead

OWN_PREFIX: Final = b"frontdoor-"  # the gateway's own cookies' names: never sent upstream
CHUNK: Final = 3800  # of the value, per cookie: with its name and attributes under 4096 bytes
MAX_CHUNKS: Final = 4  # a value longer than CHUNK * MAX_CHUNKS is refused, never truncated


class CookieTooLarge(ValueError):
    pass


def _names(name: str) -> list[str]:
    return [name] + [f"{name}.{i}" for i in range(1, MAX_CHUNKS)]


def set_cookies(name: str, value: str, *, secure: bool, max_age: int, chunked: bool = True) -> list[bytes]:
    """Set-Cookie values for ``value`` under ``name``, split when long; chunks a longer earlier value
    left behind are cleared (they would be joined to the new one). ``chunked=False`` for a value that
    always fits one cookie (a sign-in in progress): one line."""
    if not chunked:
        if len(value) > CHUNK:
            raise CookieTooLarge(f"a {name} cookie of {len(value)} bytes is too large for a browser")
        return [f"{name}={value}{_attributes(secure)}; Max-Age={max_age}".encode("ascii")]
    if len(value) > CHUNK * MAX_CHUNKS:
        raise CookieTooLarge(f"a {name} cookie of {len(value)} bytes is too large for a browser")
    parts = [value[i : i + CHUNK] for i in range(0, len(value), CHUNK)] or [""]
    attributes = _attributes(secure) + f"; Max-Age={max_age}"
    lines = [f"{n}={part}{attributes}".encode("ascii") for n, part in zip(_names(name), parts, strict=False)]
    lines.extend(_clear(n, secure) for n in _names(name)[len(parts) :])
    return lines


def clear_cookies(name: str, *, secure: bool) -> list[bytes]:
    """Set-Cookie values that remove ``name`` and every chunk of it."""
    return [_clear(n, secure) for n in _names(name)]


def _clear(name: str, secure: bool) -> bytes:
    return f"{name}={_attributes(secure)}; Max-Age=0".encode("ascii")


def _attributes(secure: bool) -> str:
    return "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


def parse_cookies(values: Iterable[bytes]) -> dict[str, str]:
    """name -> value of every cookie in the Cookie fields (RFC 6265 5.4: one field joined by "; ", or
    several); a name sent twice keeps its first value, as browsers send the most specific first."""
    cookies: dict[str, str] = {}
    for value in values:
        for pair in value.decode("latin-1").split(";"):
            name, eq, content = pair.strip().partition("=")
            if eq and name and name not in cookies:
                cookies[name] = content.strip()
    return cookies


def read_cookie(cookies: dict[str, str], name: str) -> str | None:
    """The value of ``name``, its chunks joined; None when it is absent."""
    first = cookies.get(name)
    if first is None:
        return None
    parts = [first]
    for chunk in _names(name)[1:]:
        part = cookies.get(chunk)
        if part is None:
            break
        parts.append(part)
    return "".join(parts)


def without_cookies(value: bytes, prefix: bytes) -> bytes | None:
    """A Cookie field's value without the cookies whose name starts with ``prefix`` (the gateway's
    own: the upstream never sees a session); None when nothing is left of it."""
    kept = [pair for pair in (p.strip() for p in value.split(b";")) if pair and not pair.startswith(prefix)]
    return b"; ".join(kept) if kept else None


def request_cookies(head: RequestHead) -> dict[str, str]:
    """The request's cookies, from every Cookie field."""
    fields = head.headers
    return parse_cookies(value for name, value in fields if len(name) == 6 and name.lower() == b"cookie")


def strip_own_cookies(head: RequestHead) -> None:
    """Take the gateway's own cookies out of ``head`` before it is forwarded: from its fields, and from
    the lines the forwarding code copies as they are (http/h1.py's ``plain``)."""
    kept: list[tuple[bytes, bytes]] = []
    changed = False
    for name, value in head.headers:
        if len(name) == 6 and name.lower() == b"cookie" and OWN_PREFIX in value:
            changed = True
            rest = without_cookies(value, OWN_PREFIX)
            if rest is not None:
                kept.append((name, rest))
        else:
            kept.append((name, value))
    if not changed:
        return
    head.headers = kept
    if head.plain is not None:
        lines: list[bytes] = []
        for line in head.plain:
            if line[:7].lower() == b"cookie:" and OWN_PREFIX in line:
                rest = without_cookies(line[7:].strip(), OWN_PREFIX)
                if rest is not None:
                    lines.append(line[:7] + b" " + rest + b"\r\n")
            else:
                lines.append(line)
        head.plain = lines
