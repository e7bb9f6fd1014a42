"""What each line of a plain upstream response head means, for the reader's one pass (http/response.py).

An upstream repeats the same few lines in every response (``Server: nginx``, ``Content-Type: ...``,
``Content-Length: 48``, ``Connection: keep-alive``); only a few change (``Date``, once a second). So a
line is judged once, by the rules below, and its meaning is remembered by its exact bytes: the next
response's identical line costs one dict lookup, and a line to forward is copied as the very bytes
object made the first time.

The rules accept only what llhttp accepts and reads the same way; a line they are unsure of is ODD,
and the whole response then goes to llhttp, which decides.
"""

from __future__ import annotations

from typing import Final

from frontdoor.http.fields import OWN_PREFIX, PLAIN_CONNECTION_TOKENS, RESPONSE_NOT_FORWARDED
from frontdoor.memo import Memo

# the kinds of line
FORWARD: Final = 0  # copied to the client as it came (``text`` is the line with its CRLF)
DROP: Final = 1  # hop-by-hop, or a field the gateway sets itself
LENGTH: Final = 2  # Content-Length (``number``)
CLOSE: Final = 3  # Connection: close (the connection is not reused)
STATUS: Final = 4  # a status line (``number`` the status, ``text`` the reason)
ODD: Final = 5  # anything else: llhttp reads the response

# RFC 9110 5.6.2 tchar
_TCHAR: Final = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# control characters but HTAB, and DEL: llhttp refuses them in a field value (CR and LF included: a
# line here is what lies between two CRLFs, so any CR or LF left in it is a bare one)
_CONTROLS: Final = bytes([*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F])

# bounded: lines that never repeat (a cookie, an etag) must not grow it
_KEPT: Final = 1024
_LONGEST: Final = 160


class Line:
    """A judged line: what it means, and what the reader needs of it."""

    __slots__ = ("kind", "number", "text")

    def __init__(self, kind: int, number: int = 0, text: bytes = b"") -> None:
        self.kind = kind
        self.number = number
        self.text = text


_ODD_LINE: Final = Line(ODD)
_DROP_LINE: Final = Line(DROP)
_CLOSE_LINE: Final = Line(CLOSE)
# two memos, not one: a status line's bytes met as a field line must be judged as a field (ODD)
_FIELDS: Final[Memo[bytes, Line]] = Memo(_KEPT)
_STATUSES: Final[Memo[bytes, Line]] = Memo(_KEPT)


def field_line(line: bytes) -> Line:
    """The meaning of one field line (without its CRLF)."""
    known = _FIELDS.get(line)
    if known is None:
        known = _judge_field(line)
        if len(line) <= _LONGEST:
            _FIELDS.keep(line, known)
    return known


def status_line(line: bytes) -> Line:
    """The meaning of a status line (without its CRLF): STATUS for a final response other than 204
    and 304 (those have no body to read), ODD for anything else."""
    known = _STATUSES.get(line)
    if known is None:
        known = _judge_status(line)
        if len(line) <= _LONGEST:
            _STATUSES.keep(line, known)
    return known


def _clean(text: bytes) -> bool:
    """No control character (bare CR and LF included) in ``text``."""
    return len(text.translate(None, _CONTROLS)) == len(text)


def _judge_status(line: bytes) -> Line:
    # HTTP/1.1 SP 3DIGIT SP reason: a missing reason's SP, HTTP/1.0 (its keep-alive rules) and
    # interim responses are llhttp's to read
    if len(line) < 13 or not line.startswith(b"HTTP/1.1 ") or line[12:13] != b" ":
        return _ODD_LINE
    code = line[9:12]
    if not code.isdigit() or not b"200" <= code <= b"599" or code in (b"204", b"304"):
        return _ODD_LINE
    if not _clean(line):
        return _ODD_LINE
    return Line(STATUS, int(code), line[13:])


def _judge_field(line: bytes) -> Line:
    name, colon, value = line.partition(b":")
    if not colon or not name or name.translate(None, _TCHAR) or not _clean(value):
        return _ODD_LINE  # no colon, no name, whitespace before the colon (or a folded line), controls
    lower = name.lower()
    value = value.strip(b" \t")
    if lower == b"content-length":
        if not value.isdigit() or len(value) > 18:
            return _ODD_LINE  # a list, a sign, a number too long: llhttp refuses or reads it
        return Line(LENGTH, int(value))
    if lower == b"connection":
        tokens = {token.strip(b" \t").lower() for token in value.split(b",")}
        if not tokens <= PLAIN_CONNECTION_TOKENS:
            return _ODD_LINE  # it names fields to drop: the reader with llhttp does that
        return _CLOSE_LINE if b"close" in tokens else _DROP_LINE
    if lower in {b"transfer-encoding", b"upgrade"}:
        return _ODD_LINE  # framing of another kind
    if lower in RESPONSE_NOT_FORWARDED or lower.startswith(OWN_PREFIX):
        return _DROP_LINE
    return Line(FORWARD, 0, line + b"\r\n")
