"""What a signed-in browser's session holds, and how it is kept in its cookie.

Only what deciding and the upstream need: who (subject, issuer), what the route checks (scopes, and the
claims some route's access names), the email when the provider gave one, and two times, when it
started (the absolute ``ttl``) and when it was last used (``idle``). The only token kept is the refresh
token, when the provider gave one, with the time the tokens it replaces expire: the cookie is sealed
(sealing.py), so the browser holding it cannot read it, and it only ever goes to the token endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from frontdoor.http.fields import Field

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Session:
    provider: str
    subject: str
    issuer: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]
    email: str | None
    started: float  # wall-clock seconds
    seen: float
    sid: str = ""  # this session's random id: what sign-out revokes
    refresh: str | None = None  # the provider's refresh token, if it gave one
    expires: float = 0.0  # when the tokens behind the session expire (wall clock); 0 without refresh

    def current(self, now: float, ttl: float, idle: float) -> bool:
        return now < self.started + ttl and now < self.seen + idle and self.started <= now + 60

    def used(self, now: float) -> Session:
        return replace(self, seen=now)

    def headers(self) -> tuple[Field, ...]:
        """The identity the upstream is told, as for a bearer token (X-Frontdoor-*)."""
        fields = [
            (b"x-frontdoor-issuer", self.issuer.encode("ascii", "replace")),
            (b"x-frontdoor-subject", self.subject.encode("utf-8")),
        ]
        if self.scopes:
            fields.append((b"x-frontdoor-scopes", " ".join(sorted(self.scopes)).encode("ascii", "replace")))
        if self.email:
            fields.append((b"x-frontdoor-email", self.email.encode("utf-8")))
        return tuple(fields)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "p": self.provider,
                "s": self.subject,
                "i": self.issuer,
                "sc": sorted(self.scopes),
                "c": dict(self.claims),
                "e": self.email,
                "t": self.started,
                "a": self.seen,
                "id": self.sid,
                **({"r": self.refresh, "x": self.expires} if self.refresh is not None else {}),
            },
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Session | None:
        """A session as sealed by this gateway; None if anything about it is off (it was sealed, so
        this only happens across versions)."""
        try:
            d = json.loads(raw)
            session = cls(
                str(d["p"]),
                str(d["s"]),
                str(d["i"]),
                frozenset(str(s) for s in d["sc"]),
                dict(d["c"]),
                None if d["e"] is None else str(d["e"]),
                float(d["t"]),
                float(d["a"]),
                str(d["id"]),
                None if d.get("r") is None else str(d["r"]),
                float(d.get("x", 0.0)),
            )
        except (ValueError, TypeError, KeyError):
            return None
        return session


def passable(value: object) -> str | None:
    """``value`` when it is a non-empty string that may go into a header line, else None."""
    if isinstance(value, str) and value and not _CONTROL.search(value):
        return value
    return None
