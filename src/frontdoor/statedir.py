"""Where frontdoor keeps state that outlives a process: stops, the audit log, the local IdP's keys.

``$FRONTDOOR_STATE_DIR`` when set; otherwise ``$XDG_STATE_HOME/frontdoor``, or ``~/.local/state/frontdoor``
(the XDG default). Never relative to the working directory: two gateways started from different
directories must find the same stops. A system service passes ``--state-dir /var/lib/frontdoor``.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_state_dir() -> Path:
    explicit = os.environ.get("FRONTDOOR_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "frontdoor"


def deployment_dir(state_dir: Path, edge: str, environment: str) -> Path:
    """One deployment's part of a state directory: two Edges or environments sharing the directory never
    see each other's stops or audit records (both names are contract names: [a-z0-9-], never a path)."""
    return state_dir / edge / environment
