"""Where a browser goes back to after signing in: a path on the same site, never anywhere else.

The return URL comes from the request that needed a session (or, behind an ingress, from a query
parameter the ingress fills in), so an attacker can write one into a link. Only an origin-relative
path is accepted: ``/`` then anything but a second ``/`` or ``\\`` (browsers read ``//evil`` and
``/\\evil`` as another host), no backslash or control character anywhere, and the same again after
percent-decoding, repeatedly (``/%2F%2Fevil``, ``/%5Cevil``). Anything else returns to ``/``.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote, urlsplit

FALLBACK: Final = "/"
MAX_LENGTH: Final = 2048
_FORBIDDEN: Final = re.compile(r"[\x00-\x20\x7f\\]")  # controls, space, and the backslash browsers read as /
_DECODE_ROUNDS: Final = 4


def _plain_path(target: str) -> bool:
    if not target.startswith("/") or target.startswith("//") or _FORBIDDEN.search(target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_return(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``."""
    if not target or len(target) > MAX_LENGTH or not _plain_path(target):
        return FALLBACK
    decoded = target
    for _ in range(_DECODE_ROUNDS):
        once = unquote(decoded)
        if once == decoded:
            return target
        if not _plain_path(once):
            return FALLBACK
        decoded = once
    return FALLBACK  # still changing after several rounds of decoding: no honest URL does that
