"""Which local identity provider is running, so that ``frontdoor token`` signs for it by itself.

``frontdoor demo`` and ``frontdoor idp`` write their issuer and audiences to ``running.json`` in the
identity provider's state directory (beside its keys) when they start, and remove it when they stop;
``frontdoor token`` reads it when no ``--issuer`` is given. The demo on another port (``--port-base``)
is then trusted by the tokens its printed commands mint, with nothing to copy by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from frontdoor.idp.keys import state_dir

RUNNING = "running.json"


@dataclass(frozen=True)
class RunningIssuer:
    issuer: str
    audiences: tuple[str, ...]


def _path(state: Path | None) -> Path:
    return (state or state_dir()) / "idp" / RUNNING


def announce(issuer: str, audiences: Sequence[str], state: Path | None = None) -> Path:
    path = _path(state)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{RUNNING}.{os.getpid()}")
    temporary.write_text(json.dumps({"issuer": issuer, "audiences": list(audiences), "pid": os.getpid()}))
    temporary.replace(path)  # whole or not at all: token never reads half a file
    return path


def withdraw(issuer: str, state: Path | None = None) -> None:
    """Remove the announcement, unless another demo or idp has announced itself since."""
    found = running_issuer(state)
    if found is not None and found.issuer == issuer:
        with contextlib.suppress(OSError):
            _path(state).unlink()


def running_issuer(state: Path | None = None) -> RunningIssuer | None:
    try:
        data = json.loads(_path(state).read_text())
        found = RunningIssuer(str(data["issuer"]), tuple(str(a) for a in data.get("audiences") or ()))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none running (or a file from elsewhere): token falls back to its defaults
    try:
        os.kill(pid, 0)  # still running? (a demo killed with SIGKILL could not withdraw)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # running, as another user
    return found
