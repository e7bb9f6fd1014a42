"""Bytes the gateway writes itself: status lines, and JSON error responses that never leak internals."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Final

#: Strict-Transport-Security for an entrypoint with ``hsts: true``, from serve and every render target
#: alike: a year, for the hosts the Edge serves. Not includeSubDomains: the contract names the hosts it
#: serves, not the subdomains below them, which other teams may still serve over plain HTTP.
HSTS: Final = "max-age=31536000"

#: precomputed status lines, so the hot path never formats one
STATUS_LINES: Final[dict[int, bytes]] = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode("ascii") for s in HTTPStatus
}


def status_line(status: int, reason: bytes = b"") -> bytes:
    line = STATUS_LINES.get(status)
    if line is not None:
        return line
    return b"HTTP/1.1 %d %s\r\n" % (status, reason or b"Unknown")


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(status: int, reason: str, request_id: str, owner: str | None) -> bytes:
    """The JSON body of a response the gateway makes itself (400-504)."""
    body = {"status": status, "error": phrase(status), "reason": reason, "request_id": request_id}
    if owner:
        body["owner"] = owner
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def error_response(
    status: int,
    reason: str,
    request_id: str,
    owner: str | None = None,
    *,
    close: bool = False,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
    head_only: bool = False,
) -> bytes:
    body = error_body(status, reason, request_id, owner)
    parts = [
        status_line(status),
        b"content-type: application/json\r\ncontent-length: %d\r\nx-request-id: %s\r\n"
        % (len(body), request_id.encode("ascii")),
    ]
    parts.extend(name + b": " + value + b"\r\n" for name, value in extra_headers)
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)
