"""Writing nginx.conf: its text block by block, and frontdoor's values in nginx's syntax (durations,
addresses, the variables the authz's answer headers are read into). Shared by render/nginx_conf.py
and the modules it writes parts with (nginx_tls.py, nginx_errors.py).
"""

from __future__ import annotations

import ipaddress
import math


class ConfWriter:
    """nginx.conf text, a line at a time, each indented by the blocks open around it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text if text else "")

    def open(self, text: str) -> None:
        self.line(text + " {")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def duration(seconds: float) -> str:
    """A timeout as nginx reads it: whole seconds, or milliseconds rounded up (never shorter)."""
    return f"{math.ceil(seconds * 1000)}ms" if seconds != int(seconds) else f"{int(seconds)}s"


def answer_variable(header: str) -> str:
    """The variable ``auth_request_set`` reads the authz's answer header ``header`` into."""
    return "$fd_" + header.lower().removeprefix("x-frontdoor-").replace("-", "_")


def host_port(host: str, port: int) -> str:
    """``host:port`` for a ``server`` line, an IPv6 address in brackets."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"
