"""The audit log: one JSON line per admin write (stop, start, reload), kept in the state directory.

Each record is appended with a single ``write`` on a file opened with O_APPEND, so lines from several
workers never interleave, and the file outlives restarts. Reading returns the newest records.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class AuditLog:
    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / "audit.jsonl" if state_dir is not None else None
        self.memory: deque[dict[str, Any]] = deque(maxlen=1000)  # without a state directory

    def append(self, operator: str, client: str, action: str, target: str, reason: str, result: str) -> None:
        record = {
            "time": utc_now(),
            "operator": operator,
            "client": client,
            "action": action,
            "target": target,
            "reason": reason,
            "result": result,
        }
        if self.path is None:
            self.memory.append(record)
            return
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` records, oldest first."""
        if self.path is None:
            return list(self.memory)[-limit:]
        try:
            with open(self.path, encoding="utf-8") as handle:
                lines = deque(handle, maxlen=limit)
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a crash
        return records
