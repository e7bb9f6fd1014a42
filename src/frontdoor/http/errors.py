"""Errors of the HTTP core, each with the status the gateway answers with."""

from __future__ import annotations


class ProtocolError(Exception):
    """The peer broke HTTP/1.1; answer ``status`` and close the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
