"""The liveness and readiness probes, answered alike by every frontdoor listener that has them: the
admin listener of ``serve`` (with or without the admin API) and ``frontdoor authz``."""

from __future__ import annotations

from typing import Final

HEALTH: Final = "/healthz"
READY: Final = "/readyz"
PROBES: Final = frozenset({HEALTH, READY})


def probe(path: str, ready: bool) -> tuple[int, bytes] | None:
    """The status and JSON body of the probe at ``path``, or None when ``path`` is no probe.

    ``/healthz``: 200 whenever the process answers at all (liveness). ``/readyz``: 200 when ``ready``
    (serving, not draining), 503 otherwise, so that a load balancer sends no new work."""
    if path == HEALTH:
        return 200, b'{"status": "ok"}'
    if path == READY:
        return (200, b'{"ready": true}') if ready else (503, b'{"ready": false}')
    return None
